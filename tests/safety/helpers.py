"""Signed sessions for the safety tests. A few are signed through the product's service (tests.factories); the rate
examples need a hundred or more, written straight into the tables as signing leaves them."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import User
from assessments.models import Nerve
from tests.factories import consent_for
from treatments.models import AdverseEvent, InjectionSession, InjectionSite, TreatmentCourse

FAKE_SHA256 = "0" * 64


def signed_batch(
    course: TreatmentCourse,
    count: int,
    *,
    lot: str,
    clinician: User,
    events: int = 0,
    technique: str = "subcutaneous",
    nerves: list[Nerve] | None = None,
    first_number: int = 1,
    days_ago: float = 1,
    signed: bool = True,
) -> list[InjectionSession]:
    """`count` sessions of `course` in product lot `lot`, each with a site on every one of `nerves` (the first active
    nerve by default), the first `events` of them with one adverse event each in the note; then all marked signed
    in one UPDATE (the database refuses sites and events under a signed note). `signed=False` leaves drafts."""
    nerves = nerves or [Nerve.objects.filter(active=True).order_by("pk").first()]
    consent = consent_for(course.patient)
    performed_at = timezone.now() - timedelta(days=days_ago)
    sessions = InjectionSession.objects.bulk_create(
        InjectionSession(
            course=course,
            number=first_number + offset,
            performed_at=performed_at,
            clinician=clinician,
            consent=consent,
            pre_nrs=6,
            lot_number=lot,
            lot_expiry=timezone.localdate() + timedelta(days=200),
            technique=technique,
        )
        for offset in range(count)
    )
    InjectionSite.objects.bulk_create(
        InjectionSite(session=session, nerve=nerve, side="left", points=4, volume_per_point_ml=Decimal("0.5"))
        for session in sessions
        for nerve in nerves
    )
    AdverseEvent.objects.bulk_create(
        AdverseEvent(session=session, kind="bruising", severity="mild") for session in sessions[:events]
    )
    if signed:
        InjectionSession.objects.filter(pk__in=[session.pk for session in sessions]).update(
            signed_at=timezone.now(), signed_by=clinician, content_sha256=FAKE_SHA256
        )
        for session in sessions:
            session.signed_at = timezone.now()
    return sessions
