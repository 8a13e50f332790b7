from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func
from django.db.models.functions import Cast, Lower, Now
from django.utils import timezone
from phonenumber_field.modelfields import PhoneNumberField

from pit_portal.history import track_changes

NAME_MAX = 100
NOTE_MAX = 2000
# Older than any living person; keeps typos such as 1096 out of the record.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# The same bound for what happened to a patient (sessions, assessments, appointments), as a moment.
EARLIEST_MOMENT = datetime(1900, 1, 1, tzinfo=UTC)


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other / intersex"
    UNKNOWN = "unknown", "Not stated"


class ContactMethod(models.TextChoices):
    PHONE = "phone", "Phone call"
    SMS = "sms", "Text message"
    EMAIL = "email", "Email"
    POST = "post", "Post"


class Condition(models.Model):
    """A condition PIT is used for; reference data that managers edit in the admin."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=120, unique=True)
    group = models.CharField(max_length=80, blank=True, help_text="Heading the condition is listed under.")
    sort_order = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


NAME_FIELDS = ("family_name", "given_name", "preferred_name")


class NamesOf(Func):
    """A patient's names as one text array, `ARRAY[family_name, given_name, preferred_name]`: what the name
    search looks patients up by, through one index (patient_names) for all three."""

    template = "ARRAY[%(expressions)s]"
    output_field = ArrayField(models.TextField())

    def __init__(self, **extra):
        super().__init__(*(Cast(F(field), models.TextField()) for field in NAME_FIELDS), **extra)


class PatientQuerySet(models.QuerySet):
    def processable(self) -> "PatientQuerySet":
        """Patients staff may look up and book: not under a restriction of processing, not anonymised."""
        return self.filter(restricted_at__isnull=True, anonymised_at__isnull=True)


@track_changes()
class Patient(models.Model):
    clinic_number = models.CharField(
        max_length=20,
        unique=True,
        help_text="Leave blank to assign the next number.",
    )
    given_name = models.CharField(max_length=NAME_MAX)
    family_name = models.CharField(max_length=NAME_MAX)
    preferred_name = models.CharField(max_length=NAME_MAX, blank=True)
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=10, choices=Sex.choices)

    phone = PhoneNumberField(blank=True)
    email = models.EmailField(blank=True)
    address_line1 = models.CharField("address", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    town = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=12, blank=True)
    preferred_contact = models.CharField(max_length=10, choices=ContactMethod.choices, default=ContactMethod.PHONE)

    emergency_contact_name = models.CharField(max_length=200, blank=True)
    emergency_contact_relationship = models.CharField(max_length=60, blank=True)
    emergency_contact_phone = PhoneNumberField(blank=True)

    gp_name = models.CharField("GP / referrer", max_length=200, blank=True)
    gp_practice = models.CharField("practice", max_length=200, blank=True)
    gp_phone = PhoneNumberField("practice phone", blank=True)
    gp_email = models.EmailField("practice email", blank=True)

    # The patient's own sign-in, once they have accepted a portal invitation.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="patient",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Set while a restriction of processing the patient asked for is in force (patients.data_requests): the
    # patient is left out of searches and pickers and cannot be booked. Only that module writes it.
    restricted_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set when the patient was anonymised after an erasure request (patients.anonymise); never cleared.
    anonymised_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = PatientQuerySet.as_manager()

    class Meta:
        ordering = ["family_name", "given_name", "id"]
        indexes = [
            # Name search finds its patients here: each known name (KnownName) a word matched is looked up in
            # this one index, whichever of the three names it is. Without fastupdate, a new patient's names go
            # straight into the index rather than a pending list every search would read until the next vacuum.
            GinIndex(NamesOf(), name="patient_names", fastupdate=False),
            models.Index(fields=["date_of_birth"], name="patient_dob"),
            models.Index(fields=["phone"], name="patient_phone"),
            models.Index(Lower("email"), name="patient_email_ci"),
        ]
        constraints = [
            models.CheckConstraint(
                # A day's slack: now() is UTC, and the form already checks the clinic's own date.
                condition=models.Q(date_of_birth__gte=EARLIEST_BIRTH_DATE)
                & models.Q(date_of_birth__lte=Now() + timedelta(days=1)),
                name="patient_date_of_birth_in_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(given_name="") & ~models.Q(family_name=""),
                name="patient_names_not_blank",
            ),
            models.CheckConstraint(condition=~models.Q(clinic_number=""), name="patient_clinic_number_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.clinic_number})"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def is_processable(self) -> bool:
        return self.restricted_at is None and self.anonymised_at is None

    @property
    def age(self) -> int:
        today, born = timezone.localdate(), self.date_of_birth
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


class KnownName(models.Model):
    """Every name a patient has on file, or had: the vocabulary a name search matches words against.

    A clinic has far fewer distinct names than its patients have names, so a misspelt word is compared with each
    distinct name once, through this table's trigram index, and the patients are then found by the names that
    matched (Patient's patient_names index): exactly the patients whose own names match. A database trigger on
    the patients table adds the names of every patient inserted or renamed, however the row is written; names are
    never taken out, as a renamed patient's old name stays in their history too. `seed_scale`, which loads with
    the triggers off, adds the names it loaded.
    """

    name = models.TextField(primary_key=True)

    class Meta:
        indexes = [GinIndex(fields=["name"], opclasses=["gin_trgm_ops"], name="knownname_trgm", fastupdate=False)]

    def __str__(self) -> str:
        return self.name


def check_not_before_birth(patient: Patient, day: date) -> None:
    """Refuse the date of something that happened to, or is booked for, the patient before they were born:
    it is a slip of the year (1900 for 2025), and charts and intervals would be built on it."""
    if day < patient.date_of_birth:
        raise ValidationError(
            f"That is before the patient was born ({patient.date_of_birth:%d/%m/%Y}): check the date.",
            code="before_birth",
        )


@track_changes()
class Intake(models.Model):
    """The medical background taken at registration: the facts later alerts rely on."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="intake")
    conditions = models.ManyToManyField(Condition, blank=True, related_name="+")
    other_condition = models.CharField(max_length=200, blank=True)

    allergy_amide_local_anaesthetic = models.BooleanField(
        "allergic to amide local anaesthetics (e.g. lidocaine)", default=False
    )
    allergy_corn_dextrose = models.BooleanField("allergic to corn or dextrose", default=False)
    other_allergies = models.CharField(max_length=500, blank=True)
    anticoagulant_or_bleeding_disorder = models.BooleanField(
        "takes anticoagulants or has a bleeding disorder", default=False
    )
    diabetes = models.BooleanField(default=False)
    pregnant_or_breastfeeding = models.BooleanField("pregnant or breastfeeding", default=False)
    infection_or_open_wound = models.BooleanField(
        "infection or open wound (at a likely injection site, or systemic)", default=False
    )
    infection_details = models.CharField(max_length=500, blank=True)
    notes = models.TextField(blank=True, max_length=NOTE_MAX)

    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"Intake for {self.patient}"

    def precaution_flags(self) -> list[tuple[str, str]]:
        """(label, severity) for each precaution that applies; severity is a Bootstrap colour."""
        flags = [
            (self.infection_or_open_wound, "Infection / open wound", "danger"),
            (self.allergy_amide_local_anaesthetic, "Local anaesthetic allergy", "danger"),
            (self.allergy_corn_dextrose, "Corn / dextrose allergy", "warning"),
            (self.anticoagulant_or_bleeding_disorder, "Anticoagulant / bleeding risk", "warning"),
            (self.pregnant_or_breastfeeding, "Pregnant / breastfeeding", "warning"),
            (self.diabetes, "Diabetes", "info"),
        ]
        return [(label, colour) for applies, label, colour in flags if applies]


@track_changes(model_name="IntakeConditionEvent")
# Django makes the link table at run time: a type checker cannot take it for a base class.
class IntakeCondition(Intake.conditions.through):  # type: ignore[name-defined]
    """A condition ticked on an intake: Django's own link table, proxied so its inserts and deletes
    (a condition added or removed) are tracked like any other row."""

    class Meta:
        proxy = True


@track_changes()
class Medication(models.Model):
    intake = models.ForeignKey(Intake, on_delete=models.CASCADE, related_name="medications")
    drug = models.CharField(max_length=120)
    dose = models.CharField(max_length=60, help_text="e.g. 500 mg")
    doses_per_week = models.DecimalField(max_digits=5, decimal_places=1)
    is_analgesic = models.BooleanField("pain medication", default=False)

    class Meta:
        ordering = ["-is_analgesic", "drug", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(doses_per_week__gte=0) & models.Q(doses_per_week__lte=100),
                name="medication_doses_per_week_in_range",
            ),
            models.CheckConstraint(condition=~models.Q(drug=""), name="medication_drug_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.drug} {self.dose}"


class ConsentTextQuerySet(models.QuerySet):
    def current(self) -> "ConsentText | None":
        return self.filter(published_at__isnull=False).order_by("-version").first()


@track_changes()
class ConsentText(models.Model):
    """A version of the PIT consent wording. Publishing a new version asks every patient again."""

    version = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Plain text; blank lines separate paragraphs.")
    published_at = models.DateTimeField(null=True, blank=True, help_text="Leave empty while drafting.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ConsentTextQuerySet.as_manager()

    class Meta:
        ordering = ["-version"]
        constraints = [models.CheckConstraint(condition=models.Q(version__gte=1), name="consenttext_version_positive")]

    def __str__(self) -> str:
        return f"{self.title} (version {self.version})"


class ConsentGiven(models.TextChoices):
    """How a consent was signed, or withdrawn: at the clinic desk (a member of staff present) or by the patient
    in the portal (signed in as themselves)."""

    DESK = "desk", "At the clinic"
    PORTAL = "portal", "In the patient portal"


@track_changes()
class PatientConsent(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    consent_text = models.ForeignKey(ConsentText, on_delete=models.PROTECT, related_name="+")
    signed_name = models.CharField("patient's full name, typed as signature", max_length=2 * NAME_MAX + 1)
    signed_at = models.DateTimeField(default=timezone.now)
    signed_via = models.CharField(
        max_length=10, choices=ConsentGiven.choices, default=ConsentGiven.DESK, db_default=ConsentGiven.DESK
    )
    # At the desk a member of staff witnesses; in the portal the patient's own sign-in stands for them.
    witnessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    signed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_via = models.CharField(max_length=10, choices=ConsentGiven.choices, blank=True, db_default="")
    withdrawal_reason = models.CharField(max_length=500, blank=True, db_default="")

    class Meta:
        ordering = ["-signed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "consent_text"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="consent_once_per_text_version",
            ),
            models.CheckConstraint(condition=~models.Q(signed_name=""), name="consent_signed_name_not_blank"),
            models.CheckConstraint(
                condition=models.Q(
                    signed_via=ConsentGiven.DESK, witnessed_by__isnull=False, signed_by_user__isnull=True
                )
                | models.Q(signed_via=ConsentGiven.PORTAL, witnessed_by__isnull=True, signed_by_user__isnull=False),
                name="consent_desk_witnessed_portal_signed_in",
            ),
            models.CheckConstraint(
                condition=models.Q(withdrawn_at__isnull=True, withdrawn_via="", withdrawal_reason="")
                | models.Q(withdrawn_at__isnull=False, withdrawn_via__in=[ConsentGiven.DESK, ConsentGiven.PORTAL]),
                name="consent_withdrawal_says_how",
            ),
        ]

    def __str__(self) -> str:
        return f"Consent of {self.patient} to version {self.consent_text.version}"


class DataRequestKind(models.TextChoices):
    ERASURE = "erasure", "Erasure of their data"
    RESTRICTION = "restriction", "Restriction of processing"
    LIFT_RESTRICTION = "lift_restriction", "Lifting a restriction"


class DataRequestStatus(models.TextChoices):
    OPEN = "open", "Open"
    REFUSED = "refused", "Refused"
    DONE = "done", "Done"
    WITHDRAWN = "withdrawn", "Withdrawn by the patient"


class ReceivedVia(models.TextChoices):
    IN_PERSON = "in_person", "In person"
    LETTER = "letter", "Letter"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"


DECIDED = (DataRequestStatus.REFUSED, DataRequestStatus.DONE, DataRequestStatus.WITHDRAWN)
# Not before data protection law as the clinic applies it: a typo's year (0224) is refused.
EARLIEST_REQUEST_DATE = date(2000, 1, 1)


@track_changes()
class DataRequest(models.Model):
    """A patient's request about their data (erasure, restriction of processing, or lifting a restriction), as a
    manager recorded it, and what was decided. Writes go through patients.data_requests."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="data_requests")
    kind = models.CharField(max_length=20, choices=DataRequestKind.choices)
    received_on = models.DateField()
    received_via = models.CharField(max_length=12, choices=ReceivedVia.choices)
    notes = models.TextField(blank=True, max_length=NOTE_MAX)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=12, choices=DataRequestStatus.choices, default=DataRequestStatus.OPEN)
    # What was decided and why, in words the patient can be told (a refusal says its reason).
    outcome = models.TextField(blank=True, max_length=NOTE_MAX)
    # Null for a decision made by `manage.py anonymise_patient` without --by.
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_on", "-id"]
        permissions = [("manage_data_requests", "Can record requests about data and their outcomes")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status=DataRequestStatus.OPEN, outcome="", decided_at__isnull=True, decided_by__isnull=True
                )
                | (models.Q(status__in=DECIDED, decided_at__isnull=False) & ~models.Q(outcome="")),
                name="datarequest_decided_says_outcome",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[DataRequestStatus.OPEN, *DECIDED]), name="datarequest_status_known"
            ),
            models.CheckConstraint(condition=models.Q(kind__in=DataRequestKind.values), name="datarequest_kind_known"),
            models.CheckConstraint(
                condition=models.Q(received_on__gte=EARLIEST_REQUEST_DATE)
                & models.Q(received_on__lte=Now() + timedelta(days=1)),
                name="datarequest_received_on_in_range",
            ),
            # One open request of each kind per patient: a second letter about it is a note on the first.
            models.UniqueConstraint(
                fields=["patient", "kind"],
                condition=models.Q(status=DataRequestStatus.OPEN),
                name="datarequest_one_open_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.received_on:%d/%m/%Y} ({self.get_status_display()})"
