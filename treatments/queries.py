"""Read-only selections for the clinician's start page and the course page."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Count, DecimalField, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from assessments.models import AnalgesicUse, Assessment
from outcomes.models import MeasureRequest
from portal.models import CheckIn
from treatments.models import CourseStatus, InjectionSession, InjectionSite, TreatmentCourse


class AnalgesicDoses(TypedDict):
    analgesic_doses_per_week: Decimal


class SessionsSinceReview(TypedDict):
    sessions_since_review: int


if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    AssessmentWithDoses = WithAnnotations[Assessment, AnalgesicDoses]
    CourseDueForReview = WithAnnotations[TreatmentCourse, SessionsSinceReview]

# A course is reviewed at least every this many sessions (outcome measures at review).
REVIEW_EVERY_SESSIONS = 3
DRAFT_STALE_AFTER = timedelta(hours=24)
_LONG_AGO = datetime(1900, 1, 1, tzinfo=UTC)


def _summed_per_row(children: QuerySet, parent: str, amount, output_field: DecimalField) -> Coalesce:
    """An annotation: `amount` added up over the `children` of each row (`parent` names their link to it), 0 for
    a row with none; summed by PostgreSQL rather than read child by child."""
    totals = (
        children.filter(**{parent: OuterRef("pk")})
        .order_by()
        .values(parent)
        .annotate(total=Sum(amount, output_field=output_field))
        .values("total")
    )
    return Coalesce(Subquery(totals), Value(Decimal("0")), output_field=output_field)


def course_sessions(course_id: int) -> QuerySet[InjectionSession]:
    """The course's sessions by number, each with its clinician and `volume_ml`,
    the total injected (what InjectionSession.total_volume_ml adds up from the sites, here without reading them)."""
    volume: DecimalField = DecimalField(max_digits=8, decimal_places=2)
    sites = InjectionSite.objects.all()
    return (
        InjectionSession.objects.filter(course_id=course_id)
        .select_related("clinician")
        .annotate(volume_ml=_summed_per_row(sites, "session", F("points") * F("volume_per_point_ml"), volume))
        .order_by("number")
    )


def with_analgesic_doses(assessments: QuerySet[Assessment]) -> "QuerySet[AssessmentWithDoses]":
    """Each assessment with `analgesic_doses_per_week`, the doses of all its pain medication added up (what the
    course's analgesic chart draws)."""
    doses: DecimalField = DecimalField(max_digits=7, decimal_places=1)
    uses = AnalgesicUse.objects.all()
    return assessments.annotate(analgesic_doses_per_week=_summed_per_row(uses, "assessment", "doses_per_week", doses))


def course_assessments(course_id: int) -> "QuerySet[AssessmentWithDoses]":
    """The course's assessments, oldest first, with their analgesic doses."""
    return with_analgesic_doses(Assessment.objects.filter(course_id=course_id)).order_by("assessed_at")


def course_measure_requests(course_id: int, *, with_answers: bool) -> QuerySet[MeasureRequest]:
    """What the clinic asked the patient about the course, in the order it was due, each with its appointment
    and, `with_answers` (for users who may read clinical content), the patient's report: one query."""
    related = ("appointment", "report") if with_answers else ("appointment",)
    return MeasureRequest.objects.filter(course_id=course_id).select_related(*related).order_by("due_at", "pk")


def course_check_ins(course: TreatmentCourse) -> QuerySet[CheckIn]:
    """The patient's pre-visit check-ins for the course's appointments, oldest first, each with its appointment:
    one query."""
    return (
        CheckIn.objects.filter(appointment__course_id=course.pk, patient_id=course.patient_id)
        .select_related("appointment")
        .order_by("submitted_at", "pk")
    )


def sessions_today(clinician: User) -> QuerySet[InjectionSession]:
    start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        InjectionSession.objects.filter(
            clinician=clinician, performed_at__gte=start, performed_at__lt=start + timedelta(days=1)
        )
        .select_related("course__patient", "course__condition")
        .order_by("performed_at")
    )


def stale_drafts(clinician: User) -> QuerySet[InjectionSession]:
    return (
        InjectionSession.objects.filter(
            clinician=clinician, signed_at__isnull=True, created_at__lt=timezone.now() - DRAFT_STALE_AFTER
        )
        .select_related("course__patient", "course__condition")
        .order_by("created_at")
    )


def courses_due_for_review() -> "QuerySet[CourseDueForReview]":
    """Active courses with REVIEW_EVERY_SESSIONS or more signed sessions since their last assessment (a draft
    counts once signed, like every figure about a course)."""
    last_assessed = Assessment.objects.filter(course=OuterRef("pk")).order_by("-assessed_at").values("assessed_at")[:1]
    sessions_since = (
        InjectionSession.objects.filter(
            course=OuterRef("pk"), performed_at__gt=OuterRef("last_assessed_at"), signed_at__isnull=False
        )
        .values("course")
        .annotate(count=Count("id"))
        .values("count")
    )
    return (
        TreatmentCourse.objects.filter(status=CourseStatus.ACTIVE)
        .annotate(last_assessed_at=Coalesce(Subquery(last_assessed), Value(_LONG_AGO)))
        .annotate(sessions_since_review=Coalesce(Subquery(sessions_since), 0))
        .filter(sessions_since_review__gte=REVIEW_EVERY_SESSIONS)
        .select_related("patient", "condition")
        .order_by("patient__family_name", "patient__given_name")
    )
