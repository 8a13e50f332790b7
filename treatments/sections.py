"""The clinical and scheduling parts of the patient page, trimmed to what the user's role may see."""

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import F, FilteredRelation, Q, Subquery

from accounts.models import User
from assessments.models import Assessment
from patients.models import Patient
from scheduling.queries import appointments_for_patient
from treatments.models import CourseStatus, TreatmentCourse

PAIN_AREA_FIELDS = ("region", "intensity", "tender", "note")


def assessments_and_latest_areas(patient_id: int) -> tuple[list[Assessment], list[dict]]:
    """The patient's assessments, latest first, with their condition, and the latest one's pain areas in order (as
    the body map reads them). One query: the latest assessment's row is joined to each of its pain areas, so it
    comes once per area."""
    assessments = Assessment.objects.filter(patient_id=patient_id).order_by("-assessed_at", "-pk")
    of_latest = Q(pain_areas__assessment=Subquery(assessments.values("pk")[:1]))
    rows = (
        assessments.select_related("condition")
        .annotate(latest_area=FilteredRelation("pain_areas", condition=of_latest))
        .annotate(**{f"area_{name}": F(f"latest_area__{name}") for name in PAIN_AREA_FIELDS})
        .order_by("-assessed_at", "-pk", "latest_area__id")
    )
    found: dict[int, Assessment] = {}
    areas = []
    for row in rows:
        found.setdefault(row.pk, row)
        area = {name: getattr(row, f"area_{name}") for name in PAIN_AREA_FIELDS}
        if area["region"] is not None:
            areas.append(area)
    return list(found.values()), areas


@dataclass(frozen=True)
class SessionLine:
    """A session as the patient page lists it."""

    pk: int
    number: int
    performed_at: datetime
    clinician: str
    is_signed: bool


@dataclass
class CourseLine:
    """A course as the patient page lists it, with its sessions in order."""

    pk: int
    condition: str
    status: str
    planned_sessions: int
    interval_days: int
    started_on: date
    sessions: list[SessionLine] = field(default_factory=list)

    @property
    def is_active(self) -> bool:
        return self.status == CourseStatus.ACTIVE

    @property
    def status_label(self) -> str:
        return CourseStatus(self.status).label


COURSE_LINE_COLUMNS = (
    "pk", "condition__name", "status", "planned_sessions", "interval_days", "started_on",
    "sessions__pk", "sessions__number", "sessions__performed_at", "sessions__signed_at",
    "sessions__clinician__first_name", "sessions__clinician__last_name", "sessions__clinician__username",
)  # fmt: skip


def course_lines(patient_id: int) -> list[CourseLine]:
    """The patient's courses, newest first, each with its sessions by number. One query: one row per session (one
    for a course without any), its sessions in one join rather than a prefetch query of whole session notes."""
    rows = (
        TreatmentCourse.objects.filter(patient_id=patient_id)
        .order_by(*(TreatmentCourse._meta.ordering or ()), "sessions__number")
        .values_list(*COURSE_LINE_COLUMNS)
    )
    courses: dict[int, CourseLine] = {}
    for pk, condition, status, planned, interval, started_on, *session in rows:
        course = courses.setdefault(pk, CourseLine(pk, condition, status, planned, interval, started_on))
        session_pk, number, performed_at, signed_at, *clinician_names = session
        if session_pk is not None:
            clinician = User.shown_name(*clinician_names)
            course.sessions.append(SessionLine(session_pk, number, performed_at, clinician, signed_at is not None))
    return list(courses.values())


def clinical_sections(user: User, patient: Patient) -> dict:
    """Courses with their sessions for anyone who may see courses (the front desk sees dates and
    status only, enforced in the template and by the session views); assessments and the latest
    body map for clinical staff. A fixed number of queries whatever the number of sessions."""
    appointments = appointments_for_patient(patient) if user.has_perm("scheduling.view_appointment") else None
    courses = course_lines(patient.pk) if user.has_perm("treatments.view_treatmentcourse") else []
    assessments: list[Assessment] = []
    areas: list[dict] = []
    if user.has_perm("assessments.view_assessment"):
        assessments, areas = assessments_and_latest_areas(patient.pk)
    return {
        "courses": courses,
        "assessments": assessments,
        "latest_assessment": assessments[0] if assessments else None,
        "latest_pain_areas": areas,
        "appointments": appointments,
    }
