"""The staff patient page's body, rendered as one Jinja2 fragment (pit_portal.fragments).

Django's template engine took some twelve milliseconds for this page's few hundred variables and links, more
than the rest of the request together; patient_detail.html now only places the fragment in the site's frame."""

from django.contrib.auth.context_processors import PermWrapper
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils.safestring import SafeString

from assessments.templatetags.body_map import body_map_picture
from documents.status import patient_box
from patients.models import Condition, Medication, Patient, PatientConsent
from patients.templatetags.phone_numbers import phone
from pit_portal.fragments import IdLinks, render_fragment
from pit_portal.json_rows import as_instances
from portal.invite_status import invite_status_box
from scheduling.booking_links import book_next_urls, book_url
from treatments.sections import clinical_sections

# The page's links to the other records it lists, each reversed once.
RECORD_LINKS = {
    "appointment": "scheduling:appointment",
    "assessment": "assessments:detail",
    "course": "treatments:course",
    "session": "treatments:session",
}


# The page's links about the patient themselves.
PATIENT_LINKS = {
    "disclosures": "audit:disclosures",
    "history": "patients:history",
    "edit": "patients:edit",
    "consent": "patients:consent",
    "intake": "patients:intake",
    "new_assessment": "assessments:new",
    "new_course": "treatments:course_new",
}


def _page_urls(patient_id: int) -> dict[str, str]:
    links = IdLinks.reversed(PATIENT_LINKS)
    return {key: links.to(key, patient_id) for key in PATIENT_LINKS}


def _consent_with_witness(patient: Patient) -> PatientConsent | None:
    """The valid consent the record was read with, and its witness (patients.views.patient_page_record)."""
    # A patient without one has no valid_consent attribute at all (the join found no row).
    return getattr(patient, "valid_consent", None)


def _booking_links(user, patient: Patient, sections: dict) -> dict:
    """The appointments card's Book button and the sessions' Book next links, for those who may book."""
    if not user.has_perm("scheduling.add_appointment"):
        return {"book_url": "", "book_next_urls": {}}
    appointments = sections["appointments"]
    return {
        "book_url": book_url(patient.pk, sections["courses"]),
        "book_next_urls": book_next_urls(sections["courses"], appointments) if appointments is not None else {},
    }


def patient_page(request: HttpRequest, patient: Patient) -> SafeString:
    """The body of the page of `patient`, read with patients.views.patient_page_record, as `request.user` may see
    it: the clinical sections, appointments, documents and portal box only for the roles that may see them."""
    user = request.user
    sections = clinical_sections(user, patient)
    latest = sections["latest_assessment"]
    context = {
        **sections,
        **_booking_links(user, patient, sections),
        "patient": patient,
        "intake": patient.intake,
        "conditions": as_instances(Condition, patient.condition_rows),
        "medications": as_instances(Medication, patient.medication_rows),
        "consent": _consent_with_witness(patient),
        "current_consent_version": patient.current_consent_version,
        "perms": PermWrapper(user),
        "phone": phone,
        "urls": _page_urls(patient.pk),
        "links": IdLinks.reversed(RECORD_LINKS),
        "invite_box": invite_status_box(user, patient, get_token(request)),
        "documents_box": patient_box(request, patient.pk) if user.has_perm("documents.view_document") else "",
        "body_map": body_map_picture(sections["latest_pain_areas"]) if latest else "",
    }
    return render_fragment("patients/patient_page.html", context)
