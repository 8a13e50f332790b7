"""Everything the FHIR export holds about a set of patients, read in a fixed number of queries.

`load_records(ids)` costs the same 19 queries for one patient or a thousand: each kind of row is read once for all
of them (`patient_id__in`) with only the columns the resources use, then grouped by patient in Python. The bulk
export calls it a chunk of patients at a time, so memory stays bounded by the chunk.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import F, Prefetch

from accounts.models import User
from assessments.models import DN4_ITEMS, Assessment, FunctionalActivity
from documents.models import Document, DocumentStatus
from outcomes.models import PatientReport
from patients.models import Condition, Intake, Medication, Patient, PatientConsent
from portal.models import CheckIn
from safety.models import DelayedReaction
from scheduling.models import Appointment
from treatments.models import AdverseEvent, InjectionSession, InjectionSite, TreatmentCourse


@dataclass
class PatientRecord:
    """One patient's rows, as the resources read them. Sessions are signed ones only: a draft is never exported."""

    patient: Patient
    intake: Intake | None
    consents: list = field(default_factory=list)
    assessments: list = field(default_factory=list)
    courses: list = field(default_factory=list)
    sessions: list = field(default_factory=list)
    delayed_reactions: list = field(default_factory=list)
    check_ins: list = field(default_factory=list)
    reports: list = field(default_factory=list)
    appointments: list = field(default_factory=list)
    documents: list = field(default_factory=list)
    users: dict[int, User] = field(default_factory=dict)


PATIENT_FIELDS = (
    "id", "clinic_number", "given_name", "family_name", "preferred_name", "date_of_birth", "sex", "phone", "email",
    "address_line1", "address_line2", "town", "postcode", "emergency_contact_name",
    "emergency_contact_relationship", "emergency_contact_phone", "user_id", "updated_at",
)  # fmt: skip
INTAKE_FIELDS = (
    "intake__id", "intake__patient_id", "intake__other_condition", "intake__allergy_amide_local_anaesthetic",
    "intake__allergy_corn_dextrose", "intake__other_allergies", "intake__updated_at",
)  # fmt: skip
SESSION_FIELDS = (
    "id", "course_id", "number", "performed_at", "clinician_id", "pre_nrs", "post_nrs", "dextrose_percent", "diluent",
    "buffered", "additive", "additive_percent", "lot_number", "lot_expiry", "technique", "needle_gauge", "notes",
    "signed_at", "signed_by_id",
)  # fmt: skip


def _patients(ids: list[int]) -> list[Patient]:
    conditions = Prefetch("intake__conditions", queryset=Condition.objects.only("id", "code", "name"))
    medications = Prefetch(
        "intake__medications",
        queryset=Medication.objects.only("id", "intake_id", "drug", "dose", "doses_per_week", "is_analgesic"),
    )
    return list(
        Patient.objects.filter(pk__in=ids)
        .select_related("intake")
        .only(*PATIENT_FIELDS, *INTAKE_FIELDS)
        .prefetch_related(conditions, medications)
    )


def _sessions(ids: list[int]) -> list[InjectionSession]:
    sites = Prefetch(
        "sites",
        queryset=InjectionSite.objects.select_related("nerve").only(
            "id", "session_id", "side", "points", "volume_per_point_ml", "nerve__code", "nerve__name"
        ),
    )
    events = Prefetch(
        "adverse_events",
        queryset=AdverseEvent.objects.select_related("follow_up").only(
            "id", "session_id", "kind", "severity", "note", "follow_up__status", "follow_up__follow_up_on"
        ),
    )
    return list(
        InjectionSession.objects.filter(course__patient_id__in=ids, signed_at__isnull=False)
        .annotate(patient_id=F("course__patient_id"))
        .only(*SESSION_FIELDS)
        .prefetch_related(sites, events)
        .order_by("performed_at", "id")
    )


def _grouped(rows: Iterable, key: str = "patient_id") -> dict[int, list]:
    grouped: dict[int, list] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return grouped


def _rows_by_patient(ids: list[int]) -> dict[str, dict[int, list]]:
    """Every other kind of row, one query (or one plus its prefetch) each, grouped by patient."""
    assessment_fields = (
        "id", "patient_id", "course_id", "kind", "assessed_at", "clinician_id", "presenting_complaint",
        "condition__id", "condition__code", "condition__name", "side", "duration_months", "nrs_current",
        "nrs_worst", "nrs_average", "peg_pain", "peg_enjoyment", "peg_activity", "pgic",
        *(name for name, _ in DN4_ITEMS),
    )  # fmt: skip
    activities = Prefetch(
        "activities", queryset=FunctionalActivity.objects.only("id", "assessment_id", "activity", "score")
    )
    return {
        "consents": _grouped(
            PatientConsent.objects.filter(patient_id__in=ids)
            .select_related("consent_text")
            .only(
                "id",
                "patient_id",
                "signed_name",
                "signed_at",
                "signed_via",
                "witnessed_by_id",
                "signed_by_user_id",
                "withdrawn_at",
                "withdrawn_via",
                "withdrawal_reason",
                "consent_text__version",
                "consent_text__title",
            )
            .order_by("signed_at", "id")
        ),
        "assessments": _grouped(
            Assessment.objects.filter(patient_id__in=ids)
            .select_related("condition")
            .only(*assessment_fields)
            .prefetch_related(activities)
            .order_by("assessed_at", "id")
        ),
        "courses": _grouped(
            TreatmentCourse.objects.filter(patient_id__in=ids)
            .select_related("condition")
            .only(
                "id",
                "patient_id",
                "status",
                "started_on",
                "closed_on",
                "final_pgic",
                "condition__id",
                "condition__code",
                "condition__name",
            )
            .order_by("started_on", "id")
        ),
        "delayed_reactions": _grouped(
            DelayedReaction.objects.filter(patient_id__in=ids, session__signed_at__isnull=False)
            .select_related("follow_up")
            .only(
                "id",
                "patient_id",
                "session_id",
                "kind",
                "severity",
                "description",
                "reported_at",
                "reported_by_id",
                "follow_up__status",
                "follow_up__follow_up_on",
            )
            .order_by("reported_at", "id")
        ),
        "check_ins": _grouped(
            CheckIn.objects.filter(patient_id__in=ids)
            .only(
                "id",
                "patient_id",
                "appointment_id",
                "nrs_now",
                "peg_pain",
                "peg_enjoyment",
                "peg_activity",
                "analgesic_doses_per_week",
                "new_infection",
                "new_medication",
                "new_medication_details",
                "new_blood_thinner",
                "pregnant",
                "new_allergy",
                "new_allergy_details",
                "submitted_at",
            )
            .order_by("submitted_at", "id")
        ),
        "reports": _grouped(
            PatientReport.objects.filter(patient_id__in=ids)
            .only(
                "id",
                "patient_id",
                "course_id",
                "nrs_now",
                "nrs_average",
                "peg_enjoyment",
                "peg_activity",
                "pgic",
                "further_treatment",
                "submitted_at",
            )
            .order_by("submitted_at", "id")
        ),
        "appointments": _grouped(
            Appointment.objects.filter(patient_id__in=ids)
            .select_related("appointment_type")
            .only(
                "id",
                "patient_id",
                "clinician_id",
                "starts_at",
                "ends_at",
                "status",
                "cancel_reason",
                "session_id",
                "appointment_type__name",
            )
            .order_by("starts_at", "id")
        ),
        "documents": _grouped(
            Document.objects.filter(patient_id__in=ids, status=DocumentStatus.READY, session__signed_at__isnull=False)
            .only(
                "id",
                "patient_id",
                "session_id",
                "kind",
                "version",
                "superseded_at",
                "file_name",
                "sha256",
                "size_bytes",
                "ready_at",
            )
            .order_by("ready_at", "id")
        ),
    }


def _user_ids(rows: dict[str, dict[int, list]], sessions: list[InjectionSession]) -> set[int]:
    """The staff and patient accounts the rows name: clinicians, signers, witnesses, reporters."""
    ids: set[int | None] = set()
    for session in sessions:
        ids.update((session.clinician_id, session.signed_by_id))
    for name, attributes in (
        ("consents", ("witnessed_by_id", "signed_by_user_id")),
        ("assessments", ("clinician_id",)),
        ("appointments", ("clinician_id",)),
        ("delayed_reactions", ("reported_by_id",)),
    ):
        for group in rows[name].values():
            ids.update(getattr(row, attribute) for row in group for attribute in attributes)
    return {pk for pk in ids if pk is not None}


def _intake(patient: Patient) -> Intake | None:
    try:
        return patient.intake
    except Intake.DoesNotExist:
        return None


def load_records(patient_ids: Iterable[int]) -> list[PatientRecord]:
    """The records of the patients with these ids (missing ids are skipped), in the order given."""
    ids = list(dict.fromkeys(patient_ids))
    patients = {patient.pk: patient for patient in _patients(ids)}
    sessions = _sessions(ids)
    rows = _rows_by_patient(ids)
    users = User.objects.filter(pk__in=_user_ids(rows, sessions)).only("id", "first_name", "last_name", "username")
    users_by_id = {user.pk: user for user in users}
    sessions_by_patient = _grouped(sessions)
    return [
        PatientRecord(
            patient=patients[pk],
            intake=_intake(patients[pk]),
            sessions=sessions_by_patient.get(pk, []),
            users=users_by_id,
            **{name: grouped.get(pk, []) for name, grouped in rows.items()},
        )
        for pk in ids
        if pk in patients
    ]
