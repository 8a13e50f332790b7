from datetime import date, timedelta
from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import Role, User
from patients.models import Condition, ConsentText, Intake, Patient

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(user, create, extracted: Role | None, **kwargs):
        if extracted:
            user.groups.add(Group.objects.get(name=extracted.value))
        if create:
            user.save()


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    clinic_number = factory.Sequence(lambda n: f"T-{n:05d}")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    date_of_birth = factory.Faker("date_between", start_date=date(1930, 1, 1), end_date=date(2005, 12, 31))
    sex = "female"
    phone = factory.Sequence(lambda n: f"+4479111{n:05d}")
    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    intake = factory.RelatedFactory("tests.factories.IntakeFactory", factory_related_name="patient")


class IntakeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Intake

    patient = factory.SubFactory(PatientFactory, intake=None)


class ConsentTextFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentText

    version = factory.Sequence(lambda n: n + 2)  # version 1 comes from the data migration
    title = "Consent to PIT"
    body = "Risks: infection, pain or bruising at the injection site, allergic reaction."
    published_at = factory.LazyFunction(timezone.now)


class AssessmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "assessments.Assessment"

    patient = factory.SubFactory(PatientFactory)
    kind = "initial"
    assessed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=30))
    clinician = factory.SubFactory(UserFactory, role=Role.CLINICIAN)
    presenting_complaint = "Burning pain along the outer thigh for a year."
    condition = factory.LazyFunction(lambda: Condition.objects.get(code="low-back-pain"))
    side = "left"
    nrs_current = 8
    nrs_worst = 9
    nrs_average = 7
    peg_pain = 7
    peg_enjoyment = 6
    peg_activity = 8


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "treatments.TreatmentCourse"

    patient = factory.SubFactory(PatientFactory)
    condition = factory.LazyFunction(lambda: Condition.objects.get(code="low-back-pain"))
    planned_sessions = 6
    interval_days = 7
    started_on = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=28))
    created_by = factory.SubFactory(UserFactory, role=Role.CLINICIAN)


def consent_for(patient: Patient):
    """Valid consent to the current consent text, as the front desk would record it."""
    from patients.models import PatientConsent

    current = ConsentText.objects.current()
    existing = PatientConsent.objects.filter(patient=patient, consent_text=current, withdrawn_at=None).first()
    return existing or PatientConsent.objects.create(
        patient=patient,
        consent_text=current,
        signed_name=patient.full_name,
        witnessed_by=UserFactory(role=Role.FRONT_DESK),
    )


class SessionFactory(factory.django.DjangoModelFactory):
    """A draft session with valid consent; pass `sites=N` to add N sites."""

    class Meta:
        model = "treatments.InjectionSession"
        skip_postgeneration_save = True

    course = factory.SubFactory(CourseFactory)
    number = factory.Sequence(lambda n: n + 1)
    performed_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    clinician = factory.LazyAttribute(lambda session: session.course.created_by)
    consent = factory.LazyAttribute(lambda session: consent_for(session.course.patient))
    pre_nrs = 7
    post_nrs = 3
    lot_number = "DX-2291"
    lot_expiry = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=365))

    @factory.post_generation
    def sites(session, create, extracted: int | None, **kwargs):
        from assessments.models import Nerve
        from treatments.models import InjectionSite

        nerves = list(Nerve.objects.order_by("id")[: extracted or 0])
        for nerve in nerves:
            InjectionSite.objects.create(
                session=session, nerve=nerve, side="left", points=4, volume_per_point_ml=Decimal("0.5")
            )


def signed_session(**kwargs):
    """A session with one site, signed by its clinician through the service the product uses."""
    from treatments.services import session_sign

    session = SessionFactory(**{"sites": 1, **kwargs})
    return session_sign(session=session, by=session.clinician)


def closed(status: str, details: str = "Moved away") -> dict:
    """The columns of a course closed straight in the database (`.update(**closed(...))`): the database wants the
    day it closed and, when discontinued, a reason from the list ("other", with `details`)."""
    from django.db.models import F

    from treatments.models import CourseStatus, StopReason

    discontinued = status == CourseStatus.DISCONTINUED
    return {
        "status": status,
        "closed_on": F("started_on"),
        "stop_reason": StopReason.OTHER if discontinued else "",
        "discontinued_reason": details if discontinued else "",
    }
