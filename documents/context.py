"""What goes into each PDF: read from the database here, in a fixed number of queries, so rendering itself stays
pure (the templates read the model instances loaded here and run no queries of their own).

Templates print everything escaped. The two figures (course pain chart, body map) are SVG from the project's
own renderers, which escape their text; they reach WeasyPrint as images through the fetcher, never as markup
pasted into the page.
"""

from datetime import datetime

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from assessments.models import Assessment
from assessments.templatetags.body_map import body_map_picture
from documents.models import AftercareText, Document, DocumentKind
from scheduling.models import Appointment, AppointmentStatus
from treatments.models import InjectionSession, InjectionSite
from treatments.progress import course_progress
from treatments.queries import with_analgesic_doses
from treatments.signature import SignedNoteAltered, signature_matches

TEMPLATES = {
    DocumentKind.AFTERCARE: "documents/pdf/aftercare.html",
    DocumentKind.VISIT_SUMMARY: "documents/pdf/visit_summary.html",
}
# Appointments that will not happen are not "your next appointment".
NOT_LIVE = (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW)
WORDING_PARTS = ("what_is_normal", "what_to_do", "red_flags", "when_to_call")


def clinic() -> dict:
    return {
        "name": settings.CLINIC_NAME,
        "phone": settings.CLINIC_PHONE,
        "email": settings.CLINIC_EMAIL,
        "address_lines": [line.strip() for line in settings.CLINIC_ADDRESS.split(",") if line.strip()],
    }


def _lines(text: str) -> list[str]:
    return [line.strip().lstrip("-•").strip() for line in text.splitlines() if line.strip()]


def aftercare_wording() -> dict[str, list[str]]:
    """The newest wording managers saved, as points per part; empty lists if there is none (the template says
    to call)."""
    text = AftercareText.objects.order_by("-updated_at", "-pk").first()
    return {part: _lines(getattr(text, part)) if text else [] for part in WORDING_PARTS}


def next_appointment(session: InjectionSession, now: datetime | None = None) -> Appointment | None:
    """The patient's next appointment that is still going ahead, after the session (and after now). The database
    makes a new version of the sheet when a change to the appointments can change this (migration documents/0007,
    which applies the same rule)."""
    after = max(session.performed_at, now or timezone.now())
    return (
        Appointment.objects.filter(patient_id=session.course.patient_id, starts_at__gt=after)
        .exclude(status__in=NOT_LIVE)
        .exclude(session=session)
        .select_related("appointment_type", "clinician")
        .order_by("starts_at")
        .first()
    )


def _load_session(session_id: int) -> InjectionSession:
    return (
        InjectionSession.objects.select_related("course__patient", "course__condition", "clinician", "signed_by")
        .prefetch_related(Prefetch("sites", queryset=InjectionSite.objects.select_related("nerve")), "adverse_events")
        .get(pk=session_id)
    )


def _common(document: Document, session: InjectionSession) -> dict:
    # The clinic's contact details are read from settings when each version is rendered: a version made after a
    # deploy that changed them carries the new ones; versions made before keep what was true when they were made.
    return {"clinic": clinic(), "document": document, "session": session, "patient": session.course.patient}


def aftercare_context(document: Document, session: InjectionSession) -> dict:
    """The sheet names the next appointment as it stands when this version is rendered; booking, moving or
    cancelling it makes a new version (migration documents/0007). The visit summary, a record of
    the visit, names no appointment, so it never goes stale that way."""
    return {**_common(document, session), "next_appointment": next_appointment(session), "wording": aftercare_wording()}


def svg_element(markup: str) -> str:
    """The <svg> element of a partial's output, as a standalone SVG document (it needs its namespace there)."""
    svg = markup[markup.index("<svg") : markup.rindex("</svg>") + len("</svg>")]
    opening = svg[: svg.index(">")]
    if "xmlns=" not in opening:
        svg = svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"', 1)
    return svg


def _latest_assessment(session: InjectionSession) -> Assessment | None:
    """The newest assessment up to the session, with its pain areas (for the body map and its list)."""
    return (
        Assessment.objects.filter(patient_id=session.course.patient_id, assessed_at__lte=session.performed_at)
        .prefetch_related("pain_areas")
        .order_by("-assessed_at")
        .first()
    )


def _progress(session: InjectionSession):
    # The course as it stood when this note was signed: its signed sessions and assessments up to then.
    course = session.course
    sessions = list(course.sessions.filter(signed_at__isnull=False, performed_at__lte=session.performed_at))
    if session not in sessions:
        sessions.append(session)
    assessments = list(
        with_analgesic_doses(course.assessments.filter(assessed_at__lte=session.performed_at)).order_by("assessed_at")
    )
    return course_progress(course, sessions=sorted(sessions, key=lambda s: s.number), assessments=assessments)


def visit_summary_context(document: Document, session: InjectionSession) -> dict:
    assessment = _latest_assessment(session)
    progress = _progress(session)
    body_map = body_map_picture(list(assessment.pain_areas.all()) if assessment else [])
    return {
        **_common(document, session),
        "assessment": assessment,
        "progress": progress,
        # Only the addenda this version was made for, so re-rendering an old version reproduces it.
        "addenda": list(session.addenda.filter(created_at__lte=document.created_at).select_related("author")),
        "figures": {"pain_chart": svg_element(progress.pain_chart), "body_map": svg_element(body_map)},
    }


def template_and_context(document: Document) -> tuple[str, dict]:
    """The template and context for one stored document's PDF; SignedNoteAltered if the note no longer matches
    its signature, so that a PDF is never made from content other than what was signed."""
    session = _load_session(document.session_id)
    if session.is_signed and not signature_matches(
        session, sites=session.sites.all(), adverse_events=session.adverse_events.all()
    ):
        raise SignedNoteAltered(session)
    build = aftercare_context if document.kind == DocumentKind.AFTERCARE else visit_summary_context
    return TEMPLATES[DocumentKind(document.kind)], build(document, session)
