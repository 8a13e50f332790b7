"""What goes into each PDF: read from the database here, so rendering itself stays pure.

Every value handed to the templates is plain data (strings, numbers, dates, dicts), so the templates run no
queries and print everything escaped. The two figures (course pain chart, body map) are SVG from the project's
own renderers, which escape their text; they reach WeasyPrint as images through the fetcher, never as markup
pasted into the page.
"""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from assessments.bodymap import region_label
from assessments.models import Assessment
from assessments.templatetags.body_map import body_map_picture
from documents.models import AftercareText, Document, DocumentKind
from scheduling.models import Appointment, AppointmentStatus
from treatments.models import InjectionSession, InjectionSite
from treatments.outcomes import PainChange
from treatments.progress import course_progress
from treatments.queries import with_analgesic_doses
from treatments.signature import SignedNoteAltered, signature_matches

TEMPLATES = {
    DocumentKind.AFTERCARE: "documents/pdf/aftercare.html",
    DocumentKind.VISIT_SUMMARY: "documents/pdf/visit_summary.html",
}
# Appointments that will not happen are not "your next appointment".
NOT_LIVE = (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW)


def clinic() -> dict:
    return {
        "name": settings.CLINIC_NAME,
        "phone": settings.CLINIC_PHONE,
        "email": settings.CLINIC_EMAIL,
        "address_lines": [line.strip() for line in settings.CLINIC_ADDRESS.split(",") if line.strip()],
    }


def person_name(user) -> str:
    return user.get_full_name() or user.username


def _lines(text: str) -> list[str]:
    return [line.strip().lstrip("-•").strip() for line in text.splitlines() if line.strip()]


def aftercare_wording() -> dict:
    """The newest wording managers saved; empty lists if there is none (the template says to call)."""
    text = AftercareText.objects.order_by("-updated_at", "-pk").first()
    if text is None:
        return {"what_is_normal": [], "what_to_do": [], "red_flags": [], "when_to_call": []}
    return {
        "what_is_normal": _lines(text.what_is_normal),
        "what_to_do": _lines(text.what_to_do),
        "red_flags": _lines(text.red_flags),
        "when_to_call": _lines(text.when_to_call),
    }


def next_appointment(session: InjectionSession, now: datetime | None = None) -> dict | None:
    """The patient's next appointment that is still going ahead, after the session (and after now). The database
    makes a new version of the sheet when a change to the appointments can change this (migration documents/0007,
    which applies the same rule)."""
    after = max(session.performed_at, now or timezone.now())
    following = (
        Appointment.objects.filter(patient_id=session.course.patient_id, starts_at__gt=after)
        .exclude(status__in=NOT_LIVE)
        .exclude(session=session)
        .select_related("appointment_type", "clinician")
        .order_by("starts_at")
    )
    appointment = following.first()
    if appointment is None:
        return None
    return {
        "starts_at": appointment.starts_at,
        "kind": appointment.appointment_type.name,
        "clinician": person_name(appointment.clinician),
    }


def _load_session(session_id: int) -> InjectionSession:
    return (
        InjectionSession.objects.select_related("course__patient", "course__condition", "clinician", "signed_by")
        .prefetch_related(
            Prefetch("sites", queryset=InjectionSite.objects.select_related("nerve").order_by("id")),
            "adverse_events",
        )
        .get(pk=session_id)
    )


def _patient(session: InjectionSession) -> dict:
    patient = session.course.patient
    return {
        "name": patient.full_name,
        "date_of_birth": patient.date_of_birth,
        "clinic_number": patient.clinic_number,
        "gp_name": patient.gp_name,
        "gp_practice": patient.gp_practice,
    }


def _sites(session: InjectionSession) -> list[dict]:
    return [
        {
            "nerve": site.nerve.name,
            "side": site.get_side_display(),
            "points": site.points,
            "volume_per_point_ml": site.volume_per_point_ml,
            "total_ml": site.total_volume_ml,
        }
        for site in session.sites.all()
    ]


def _treatment(session: InjectionSession) -> dict:
    """What was done, shared by both documents."""
    sites = _sites(session)
    return {
        "date": session.performed_at,
        "number": session.number,
        "planned_sessions": session.course.planned_sessions,
        "condition": session.course.condition.name,
        "solution": session.solution_description,
        "technique": session.get_technique_display(),
        "needle_gauge": session.get_needle_gauge_display(),
        "sites": sites,
        "total_volume_ml": sum((site["total_ml"] for site in sites), Decimal("0")),
        "total_points": sum(site["points"] for site in sites),
        "clinician": person_name(session.clinician),
        "next_interval_days": session.next_interval_days,
    }


def _common(document: Document, session: InjectionSession) -> dict:
    # The clinic's contact details are read from settings when each version is rendered: a version made after a
    # deploy that changed them carries the new ones; versions made before keep what was true when they were made.
    return {
        "clinic": clinic(),
        "patient": _patient(session),
        "treatment": _treatment(session),
        "document": {"version": document.version, "kind": document.get_kind_display()},
        "generated_at": timezone.now(),
    }


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


def body_map_svg(areas: list[dict]) -> str:
    """The body map exactly as the assessment pages draw it, from the partial behind {% body_map_view %}."""
    return svg_element(body_map_picture(areas))


def _latest_pain_areas(session: InjectionSession) -> tuple[Assessment | None, list[dict]]:
    """The newest assessment up to the session, and its pain areas as plain dicts for the body map."""
    assessment = (
        Assessment.objects.filter(patient_id=session.course.patient_id, assessed_at__lte=session.performed_at)
        .prefetch_related("pain_areas")
        .order_by("-assessed_at")
        .first()
    )
    if assessment is None:
        return None, []
    areas = [
        {"region": area.region, "intensity": area.intensity, "tender": area.tender, "note": area.note}
        for area in assessment.pain_areas.all()
    ]
    return assessment, areas


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


def shown_change(change: PainChange | None) -> dict | None:
    """A change in pain as the PDFs print it: its words ("50% worse") and its direction, as plain data."""
    if change is None:
        return None
    return {"text": str(change), "direction": change.direction.value}


def _note(session: InjectionSession) -> dict:
    return {
        "pre_nrs": session.pre_nrs,
        "post_nrs": session.post_nrs,
        "immediate_change": shown_change(session.immediate_change),
        "lot_number": session.lot_number,
        "lot_expiry": session.lot_expiry,
        "adverse_events": [
            {"kind": event.get_kind_display(), "severity": event.get_severity_display(), "note": event.note}
            for event in session.adverse_events.all()
        ],
        "notes": session.notes,
        "signed_by": person_name(session.signed_by) if session.signed_by else "",
        "signed_at": session.signed_at,
        "content_sha256": session.content_sha256,
    }


def visit_summary_context(document: Document, session: InjectionSession) -> dict:
    assessment, areas = _latest_pain_areas(session)
    progress = _progress(session)
    # Only the addenda this version was made for, so re-rendering an old version reproduces it.
    made_for = session.addenda.filter(created_at__lte=document.created_at).select_related("author")
    addenda = [
        {"author": person_name(addendum.author), "created_at": addendum.created_at, "text": addendum.text}
        for addendum in made_for.order_by("created_at", "id")
    ]
    return {
        **_common(document, session),
        "note": _note(session),
        "assessment_date": assessment.assessed_at if assessment else None,
        "pain_area_list": [{**area, "label": region_label(area["region"])} for area in areas],
        "progress": {
            "baseline": progress.baseline,
            "latest": progress.latest,
            "change": shown_change(progress.change),
            "responder": progress.responder_label,
        },
        "figures": {"pain_chart": svg_element(progress.pain_chart), "body_map": body_map_svg(areas)},
        "addenda": addenda,
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
