"""Each place that writes to the audit trail: record views, downloads, rendering, sending, refusals, CSRF."""

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from audit.models import Action, AuditEvent, Source
from documents import notifications, tasks
from documents.models import DocumentDownload, DocumentKind
from tests.audit.helpers import comparable, events
from tests.documents.helpers import pending_document_for, ready_document_for
from tests.factories import AssessmentFactory, CourseFactory, SessionFactory, UserFactory
from tests.portal.helpers import in_days, make_appointment, make_document
from tests.scheduling.factories import AppointmentFactory

# --- Opening a patient's record -------------------------------------------------------------------------------


def test_opening_the_patient_page_writes_one_patient_viewed(clinician_client, clinician, patient):
    response = clinician_client.get(reverse("patients:detail", args=[patient.pk]), REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    [viewed] = events(Action.PATIENT_VIEWED)
    assert (viewed.actor, viewed.actor_username, viewed.patient) == (clinician, "alice", patient)
    assert viewed.path == reverse("patients:detail", args=[patient.pk])
    assert viewed.ip_address == "203.0.113.9" and viewed.source == Source.WEB


def test_the_fragments_a_patient_page_loads_write_nothing_more(clinician_client, patient):
    clinician_client.get(reverse("patients:detail", args=[patient.pk]))
    fragment = clinician_client.get(
        reverse("documents:patient_status", args=[patient.pk]), headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    clinician_client.get(reverse("patients:detail", args=[patient.pk]), headers={"HX-Request": "true"})
    assert len(events(Action.PATIENT_VIEWED)) == 1
    assert not events(Action.RECORD_VIEWED)


def test_the_search_text_never_reaches_the_trail(clinician_client, patient):
    """The stored path has no query string: a name typed into a search box is not written to the trail."""
    clinician_client.get(reverse("patients:detail", args=[patient.pk]) + "?q=Charlie+Day")
    assert events(Action.PATIENT_VIEWED)[0].path == reverse("patients:detail", args=[patient.pk])


def _assessment(patient):
    return AssessmentFactory(patient=patient)


def _course(patient):
    return CourseFactory(patient=patient)


def _session(patient):
    return SessionFactory(course=CourseFactory(patient=patient), sites=1)


def _appointment(patient):
    return AppointmentFactory(patient=patient)


RECORD_PAGES = [
    ("assessments:detail", _assessment, lambda obj: obj),
    ("treatments:course", _course, lambda obj: obj),
    ("treatments:session", _session, lambda obj: obj),
    ("treatments:session_edit", _session, lambda obj: obj),
    ("scheduling:appointment", _appointment, lambda obj: obj),
    ("patients:intake", lambda patient: patient, lambda patient: patient.intake),
]


@pytest.mark.parametrize(("name", "make", "audited"), RECORD_PAGES, ids=[page[0] for page in RECORD_PAGES])
def test_opening_a_clinical_record_writes_record_viewed_with_the_patient(
    clinician_client, clinician, patient, name, make, audited
):
    obj = make(patient)
    assert clinician_client.get(reverse(name, args=[obj.pk])).status_code == 200
    [viewed] = events(Action.RECORD_VIEWED)
    target = audited(obj)
    assert (viewed.actor, viewed.patient) == (clinician, patient)
    assert (viewed.object_type, viewed.object_id) == (target._meta.label_lower, str(target.pk))


def test_a_new_session_form_counts_as_viewing_the_course(clinician_client, patient):
    course = CourseFactory(patient=patient)
    assert clinician_client.get(reverse("treatments:session_new", args=[course.pk])).status_code == 200
    [viewed] = events(Action.RECORD_VIEWED)
    assert (viewed.object_type, viewed.object_id, viewed.patient) == (
        "treatments.treatmentcourse",
        str(course.pk),
        patient,
    )


def test_the_front_desk_opening_a_course_is_recorded_too(front_desk_client, front_desk, patient):
    course = CourseFactory(patient=patient)
    assert front_desk_client.get(reverse("treatments:course", args=[course.pk])).status_code == 200
    assert [event.actor for event in events(Action.RECORD_VIEWED, patient=patient)] == [front_desk]


def test_a_form_sent_back_with_errors_is_not_a_second_view(clinician_client, patient):
    session = _session(patient)
    clinician_client.get(reverse("treatments:session_edit", args=[session.pk]))
    clinician_client.post(reverse("treatments:session_edit", args=[session.pk]), {"sites-TOTAL_FORMS": "x"})
    assert len(events(Action.RECORD_VIEWED)) == 1


# --- Documents leaving the clinic -----------------------------------------------------------------------------


def test_a_staff_download_writes_document_downloaded_beside_the_download_row(clinician_client, clinician, patient):
    document = ready_document_for(patient)
    response = clinician_client.get(reverse("documents:download", args=[document.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert DocumentDownload.objects.filter(document=document, user=clinician, checksum_ok=True).count() == 1
    [downloaded] = events(Action.DOCUMENT_DOWNLOADED)
    assert (downloaded.actor, downloaded.patient) == (clinician, patient)
    assert (downloaded.object_type, downloaded.object_id) == ("documents.document", str(document.pk))
    assert downloaded.detail == {"kind": DocumentKind.AFTERCARE, "version": 1, "via": "staff"}


def test_a_portal_download_is_recorded_as_the_patient_s_own(patient_client, patient_user, patient):
    document = make_document(patient)
    response = patient_client.get(reverse("portal:document_download", args=[document.pk]))
    assert response.status_code == 200
    [downloaded] = events(Action.DOCUMENT_DOWNLOADED)
    assert (downloaded.actor, downloaded.patient, downloaded.detail["via"]) == (patient_user, patient, "portal")


def test_a_download_refused_or_not_ready_discloses_nothing(clinician_client, patient):
    tampered = ready_document_for(patient)
    default_storage.delete(tampered.file_name)
    assert clinician_client.get(reverse("documents:download", args=[tampered.pk])).status_code == 410
    pending = pending_document_for(patient)
    assert clinician_client.get(reverse("documents:download", args=[pending.pk])).status_code == 409
    assert not events(Action.DOCUMENT_DOWNLOADED)


def test_rendering_writes_document_rendered_once_however_often_the_task_runs(patient):
    document = pending_document_for(patient)
    tasks.render_document.apply(args=[document.pk])
    tasks.render_document.apply(args=[document.pk])  # a redelivered message finds the document ready
    [rendered] = events(Action.DOCUMENT_RENDERED)
    assert (rendered.patient, rendered.object_id, rendered.source) == (patient, str(document.pk), Source.TASK)
    assert rendered.actor is None
    assert rendered.detail["kind"] == DocumentKind.AFTERCARE and rendered.detail["pages"] >= 1


def test_the_ready_email_writes_document_sent(patient, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    patient.email = "charlie@example.org"
    patient.save()
    document = ready_document_for(patient, DocumentKind.AFTERCARE)
    assert notifications.document_ready_email_send(document.pk)
    assert len(mail.outbox) == 1
    [sent] = events(Action.DOCUMENT_SENT)
    assert (sent.patient, sent.object_id, sent.source) == (patient, str(document.pk), Source.TASK)
    assert sent.detail == {"kind": DocumentKind.AFTERCARE, "version": 1, "channel": "email", "attached": False}


def test_no_email_means_nothing_sent(patient):
    patient.email = ""
    patient.save()
    document = ready_document_for(patient, DocumentKind.AFTERCARE)
    assert not notifications.document_ready_email_send(document.pk)
    assert not events(Action.DOCUMENT_SENT)


# --- Refusals --------------------------------------------------------------------------------------------------


def test_a_front_desk_post_to_a_clinical_url_is_refused_and_recorded(front_desk_client, front_desk, patient):
    session = _session(patient)
    response = front_desk_client.post(reverse("treatments:session_sign", args=[session.pk]))
    assert response.status_code == 403
    [denied] = events(Action.ACCESS_DENIED)
    assert denied.actor == front_desk
    assert denied.detail == {"reason": "permission", "view": "treatments:session_sign", "method": "POST"}
    assert denied.path == reverse("treatments:session_sign", args=[session.pk])


def test_a_patient_on_a_staff_page_is_refused_and_recorded(patient_client, patient_user, patient):
    assert patient_client.get(reverse("patients:list")).status_code == 403
    assert [(event.actor, event.detail["view"]) for event in events(Action.ACCESS_DENIED)] == [
        (patient_user, "patients:list")
    ]


def test_django_s_own_permission_decorator_is_covered_too(manager_client, manager, patient):
    """portal:invite_new uses django.contrib.auth's permission_required(raise_exception=True)."""
    assert manager_client.post(reverse("portal:invite_new", args=[patient.pk])).status_code == 403
    assert events(Action.ACCESS_DENIED)[0].detail["view"] == "portal:invite_new"


def test_staff_on_the_portal_are_refused_and_recorded(clinician_client, clinician):
    assert clinician_client.get(reverse("portal:home")).status_code == 403
    assert [event.actor for event in events(Action.ACCESS_DENIED)] == [clinician]


def test_an_anonymous_visitor_is_sent_to_sign_in_and_nothing_is_recorded(client, patient):
    before = AuditEvent.objects.count()
    assert client.get(reverse("patients:detail", args=[patient.pk])).status_code == 302
    assert AuditEvent.objects.count() == before


@pytest.fixture
def limited_client(db):
    """A user who may edit patient records but not list them: reaches only the record linked to them."""
    user = UserFactory(username="lee")
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="patients", codename__in=["change_patient", "view_intake"])
    )
    client = Client()
    client.force_login(user)
    return client


def test_someone_else_s_patient_id_is_a_404_like_a_missing_one_and_is_recorded(limited_client, other_patient):
    url = reverse("patients:edit", args=[other_patient.pk])
    theirs = limited_client.get(url)
    missing = limited_client.get(reverse("patients:edit", args=[other_patient.pk + 1000]))
    assert theirs.status_code == missing.status_code == 404
    assert comparable(theirs.content) == comparable(missing.content)
    [denied] = events(Action.ACCESS_DENIED)
    assert denied.patient == other_patient
    assert denied.detail == {"reason": "not_theirs", "kind": "patient", "id": str(other_patient.pk)}


def test_a_patient_asking_for_another_patient_s_objects_is_recorded(
    patient_client, patient_user, patient, other_patient
):
    appointment = make_appointment(other_patient, in_days(2))
    document = make_document(other_patient)
    for url, kind, pk in [
        (reverse("portal:document_download", args=[document.pk]), "document", document.pk),
        (reverse("portal:check_in", args=[appointment.pk]), "appointment", appointment.pk),
        (reverse("portal:appointment_ics", args=[appointment.pk]), "appointment", appointment.pk),
    ]:
        assert patient_client.get(url).status_code == 404
        denied = AuditEvent.objects.filter(action=Action.ACCESS_DENIED).latest("id")
        assert (denied.actor, denied.patient, denied.path) == (patient_user, other_patient, url)
        assert denied.detail == {"reason": "not_theirs", "kind": kind, "id": str(pk)}


def test_a_missing_id_is_not_an_access_refusal(patient_client, patient, limited_client):
    assert patient_client.get(reverse("portal:document_download", args=[10**9])).status_code == 404
    assert patient_client.get(reverse("portal:check_in", args=[10**9])).status_code == 404
    assert limited_client.get(reverse("patients:edit", args=[10**9])).status_code == 404
    assert not events(Action.ACCESS_DENIED)


def test_a_patient_s_own_document_that_is_not_ready_is_not_a_refusal(patient_client, patient):
    pending = pending_document_for(patient)
    assert patient_client.get(reverse("portal:document_download", args=[pending.pk])).status_code == 404
    assert not events(Action.ACCESS_DENIED)


def test_a_post_without_a_csrf_token_is_refused_and_recorded(clinician, patient):
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician)
    response = client.post(reverse("patients:edit", args=[patient.pk]), {"given_name": "Changed"})
    assert response.status_code == 403
    [refused] = events(Action.CSRF_FAILED)
    assert refused.actor == clinician
    assert refused.detail["method"] == "POST" and "CSRF" in refused.detail["reason"]
    assert "Changed" not in str(refused.detail)


def test_no_names_in_any_event_written_here(clinician_client, patient_client, patient, other_patient):
    clinician_client.get(reverse("patients:detail", args=[patient.pk]))
    clinician_client.get(reverse("documents:download", args=[ready_document_for(patient).pk]))
    patient_client.get(reverse("portal:document_download", args=[make_document(other_patient).pk]))
    stored = " ".join(f"{event.detail} {event.path} {event.object_id}" for event in AuditEvent.objects.all())
    for name in (patient.given_name, patient.family_name, other_patient.family_name):
        assert name not in stored


def test_the_refusal_middleware_runs_after_authentication(settings):
    middleware = list(settings.MIDDLEWARE)
    assert middleware.index("audit.middleware.AccessDeniedAuditMiddleware") > middleware.index(
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    )
