"""A course's progress: the pain chart, change from baseline and responder status.

Only signed notes count: a draft can still change (or be a slip, like a pain score of 0 typed by mistake),
so it never moves the course's figures. The course page lists drafts, marked as drafts. What the patient
reported (pain now, at a check-in or between visits) counts as it was given: it is a point on the chart of its
own kind and can be the latest score, like any signed one; the baseline is always the baseline assessment."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.safestring import SafeString

from assessments.models import Assessment, AssessmentKind
from treatments.charts import AnalgesicPoint, PainPoint, analgesic_chart_svg, pain_chart_svg
from treatments.models import InjectionSession, TreatmentCourse
from treatments.outcomes import PainChange, pain_change, responder_label, responder_status
from treatments.reported import ReportedPain

if TYPE_CHECKING:
    from treatments.queries import AssessmentWithDoses


@dataclass(frozen=True)
class CourseProgress:
    baseline: int | None
    latest: int | None
    change: PainChange | None
    responder: str
    pain_chart: SafeString
    analgesic_chart: SafeString | None
    drafts_not_counted: int = 0
    latest_reported_by_patient: bool = False

    @property
    def responder_label(self) -> str:
        return responder_label(self.responder)


@dataclass(frozen=True)
class _Score:
    at: datetime
    point: PainPoint


def _scores(
    sessions: list[InjectionSession], assessments: Sequence[Assessment], reported: Sequence[ReportedPain]
) -> list[_Score]:
    """Every score on the chart with the moment it was taken, in time order (so points of one day keep their
    order on the chart, and the latest score is the one taken last)."""
    scores = [
        _Score(
            a.assessed_at,
            PainPoint(
                when=timezone.localtime(a.assessed_at).date(),
                before=a.nrs_current,
                after=None,
                label="B" if a.kind == AssessmentKind.INITIAL else "R",
                kind="baseline" if a.kind == AssessmentKind.INITIAL else "review",
            ),
        )
        for a in assessments
    ]
    scores += [
        _Score(
            s.performed_at,
            PainPoint(
                when=timezone.localtime(s.performed_at).date(), before=s.pre_nrs, after=s.post_nrs, label=f"S{s.number}"
            ),
        )
        for s in sessions
        if s.pre_nrs is not None
    ]
    scores += [
        _Score(r.at, PainPoint(when=timezone.localtime(r.at).date(), before=r.nrs_now, after=None, kind="patient"))
        for r in reported
    ]
    return sorted(scores, key=lambda score: score.at)


def course_progress(
    course: TreatmentCourse,
    *,
    sessions: list[InjectionSession],
    assessments: "list[AssessmentWithDoses]",
    reported: Sequence[ReportedPain] = (),
) -> CourseProgress:
    """Baseline is "pain now" at the first assessment; the latest is the newest score before an injection, at a
    review or of pain now as the patient reported it, so like is compared with like. Of `sessions`, the signed
    ones count."""
    signed = [session for session in sessions if session.is_signed]
    baseline_assessment = next((a for a in assessments if a.pk == course.baseline_assessment_id), None)
    baseline = baseline_assessment.nrs_current if baseline_assessment else None
    scores = _scores(signed, assessments, reported)
    points = [score.point for score in scores]
    later = [p for p in points if p.kind != "baseline" and p.before is not None]
    latest = later[-1].before if later else None
    analgesics = [
        AnalgesicPoint(when=timezone.localtime(a.assessed_at).date(), doses_per_week=a.analgesic_doses_per_week)
        for a in assessments
    ]
    return CourseProgress(
        baseline=baseline,
        latest=latest,
        change=pain_change(baseline, latest),
        responder=responder_status(baseline, latest),
        pain_chart=pain_chart_svg(points, baseline=baseline),
        analgesic_chart=analgesic_chart_svg(analgesics) if len(analgesics) > 1 else None,
        drafts_not_counted=len(sessions) - len(signed),
        latest_reported_by_patient=bool(later) and later[-1].kind == "patient",
    )
