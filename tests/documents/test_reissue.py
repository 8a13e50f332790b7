"""The aftercare sheet names the patient's next appointment: booking, moving or cancelling that appointment makes
a new version of the latest sheet, read back here from the real PDF, and the older version stays, superseded."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import dateformat, timezone

from documents import services, tasks
from documents.models import Document, DocumentKind, DocumentStatus
from portal import services as portal_services
from scheduling import services as scheduling_services
from scheduling.models import Appointment, AppointmentStatus
from tests.documents.conftest import document_of, pdf_text
from tests.factories import CourseFactory, SessionFactory
from tests.scheduling.factories import appointment_type, at, every_day
from treatments import services as treatment_services

NONE_BOOKED = "None booked yet — call us"


@pytest.fixture(autouse=True)
def clinician_works_every_day(clinician):
    every_day(clinician)


def made_ready(session) -> Document:
    """The session's current aftercare sheet, rendered by the task as the worker runs it."""
    document = document_of(session, DocumentKind.AFTERCARE)
    tasks.render_document.apply(args=[document.pk])
    document.refresh_from_db()
    assert document.status == DocumentStatus.READY
    return document


def sheet_text(document: Document) -> str:
    with default_storage.open(document.file_name) as stored:
        return pdf_text(stored.read())


def day(days: int, hour: int):
    return at(timezone.localdate() + timedelta(days=days), hour)


def shown(starts_at) -> str:
    """How the sheet prints an appointment's time: "Tuesday 8 December 2026 at 10:00"."""
    local = timezone.localtime(starts_at)
    return f"{dateformat.format(local, 'l j F Y')} at {local:%H:%M}"


def book(patient, clinician, starts_at):
    return scheduling_services.appointment_book(
        patient=patient, clinician=clinician, appointment_type=appointment_type("pit-session"), starts_at=starts_at,
        by=clinician,
    )  # fmt: skip


def aftercare_versions(session) -> list[int]:
    versions = Document.objects.filter(session=session, kind=DocumentKind.AFTERCARE).values_list("version", flat=True)
    return sorted(versions)


def test_booking_the_next_appointment_makes_a_new_sheet_that_names_it(signed, clinician):
    first = made_ready(signed)
    assert NONE_BOOKED in sheet_text(first)

    appointment = book(signed.course.patient, clinician, day(7, 10))
    second = made_ready(signed)

    text = sheet_text(second)
    assert second.version == 2 and NONE_BOOKED not in text
    assert shown(appointment.starts_at) in text and f"PIT session with {clinician.get_full_name()}" in text
    first.refresh_from_db()
    assert first.superseded_at is not None and first.status == DocumentStatus.READY
    assert default_storage.exists(first.file_name)  # the old version stays downloadable, marked superseded
    summary = document_of(signed, DocumentKind.VISIT_SUMMARY)
    assert summary.version == 1  # the visit summary names no appointment: nothing in it went stale


def test_moving_the_next_appointment_reissues_the_sheet_with_the_new_time(signed, clinician):
    appointment = book(signed.course.patient, clinician, day(7, 10))
    before = sheet_text(made_ready(signed))
    assert shown(appointment.starts_at) in before

    scheduling_services.appointment_move(appointment=appointment, starts_at=day(9, 15), by=clinician)
    after = sheet_text(made_ready(signed))
    assert shown(day(9, 15)) in after and shown(day(7, 10)) not in after


def test_cancelling_the_next_appointment_reissues_the_sheet_saying_none_is_booked(signed, clinician):
    appointment = book(signed.course.patient, clinician, day(7, 10))
    assert shown(appointment.starts_at) in sheet_text(made_ready(signed))

    scheduling_services.appointment_cancel(appointment=appointment, reason="Clinician away", by=clinician)
    after = sheet_text(made_ready(signed))
    assert NONE_BOOKED in after and shown(appointment.starts_at) not in after


def test_a_patient_cancelling_online_reissues_the_sheet(signed, clinician, patient_user):
    appointment = book(signed.course.patient, clinician, day(7, 10))
    made_ready(signed)

    portal_services.appointment_cancel_by_patient(appointment=appointment, reason="Away that week", by=patient_user)
    assert NONE_BOOKED in sheet_text(made_ready(signed))


def test_cancelling_reveals_the_appointment_after_it_on_the_new_sheet(signed, clinician):
    nearer = book(signed.course.patient, clinician, day(7, 10))
    later = book(signed.course.patient, clinician, day(14, 11))
    assert shown(nearer.starts_at) in sheet_text(made_ready(signed))

    scheduling_services.appointment_cancel(appointment=nearer, reason="Clinician away", by=clinician)
    assert shown(later.starts_at) in sheet_text(made_ready(signed))


def test_an_appointment_after_the_next_one_leaves_the_sheet_as_it_is(signed, clinician):
    made_ready(signed)
    nearer = book(signed.course.patient, clinician, day(7, 10))
    made_ready(signed)
    assert aftercare_versions(signed) == [1, 2]

    later = book(signed.course.patient, clinician, day(14, 11))
    scheduling_services.appointment_move(appointment=later, starts_at=day(15, 11), by=clinician)
    scheduling_services.appointment_cancel(appointment=later, reason="Not needed", by=clinician)
    assert aftercare_versions(signed) == [1, 2]  # the sheet names `nearer` throughout
    assert shown(nearer.starts_at) in sheet_text(document_of(signed, DocumentKind.AFTERCARE))


def test_a_version_not_yet_rendered_is_reused_and_renders_the_change(signed, clinician):
    # Signed, not yet rendered: the worker has not claimed it, and will read the booking when it does.
    appointment = book(signed.course.patient, clinician, day(7, 10))
    scheduling_services.appointment_move(appointment=appointment, starts_at=day(8, 10), by=clinician)
    assert aftercare_versions(signed) == [1]
    assert shown(day(8, 10)) in sheet_text(made_ready(signed))


def test_a_version_the_worker_has_started_is_not_reused(signed, clinician):
    # A claimed version may already have read the appointments; it must not be the one the change relies on.
    Document.objects.filter(session=signed, kind=DocumentKind.AFTERCARE).update(attempts=1)
    appointment = book(signed.course.patient, clinician, day(7, 10))
    assert aftercare_versions(signed) == [1, 2]
    assert shown(appointment.starts_at) in sheet_text(made_ready(signed))


def test_only_the_latest_visits_sheet_is_reissued(signed, clinician, patient):
    made_ready(signed)
    later_draft = SessionFactory(course=CourseFactory(patient=patient, created_by=clinician), sites=1)
    later_draft.performed_at = signed.performed_at + timedelta(hours=2)
    later_draft.save(update_fields=["performed_at"])
    latest = treatment_services.session_sign(session=later_draft, by=clinician)
    made_ready(latest)

    book(patient, clinician, day(7, 10))
    assert aftercare_versions(signed) == [1]
    assert aftercare_versions(latest) == [1, 2]


def test_a_status_that_keeps_the_appointment_going_ahead_reissues_nothing(signed, clinician):
    made_ready(signed)
    appointment = book(signed.course.patient, clinician, day(7, 10))
    made_ready(signed)
    scheduling_services.appointment_set_status(appointment=appointment, status=AppointmentStatus.ARRIVED, by=clinician)
    assert aftercare_versions(signed) == [1, 2]


def test_the_new_version_is_written_with_the_booking_and_sent_after_commit(
    signed, clinician, django_capture_on_commit_callbacks
):
    made_ready(signed)
    patient_id = signed.course.patient_id
    with (
        mock.patch.object(tasks.render_pending, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        book(signed.course.patient, clinician, day(7, 10))
        pending = document_of(signed, DocumentKind.AFTERCARE)
        assert pending.status == DocumentStatus.PENDING and pending.version == 2
        delay.assert_not_called()  # inside the booking's transaction: a worker could not see the row yet
    delay.assert_called_once_with(patient_id)  # an id, nothing else

    with mock.patch.object(tasks.render_document, "delay") as render:
        tasks.render_pending.apply(args=[patient_id])
    render.assert_called_once_with(pending.pk)


def test_a_change_made_outside_the_booking_pages_also_reissues_the_sheet(signed, clinician):
    # The database makes the version, so the admin site or a bulk update cannot leave the sheet behind.
    appointment = book(signed.course.patient, clinician, day(7, 10))
    made_ready(signed)
    type(appointment).objects.filter(pk=appointment.pk).update(
        starts_at=day(10, 9), ends_at=day(10, 9) + timedelta(minutes=20)
    )
    assert shown(day(10, 9)) in sheet_text(made_ready(signed))

    type(appointment).objects.filter(pk=appointment.pk).delete()
    assert NONE_BOOKED in sheet_text(made_ready(signed))
    assert aftercare_versions(signed) == [1, 2, 3]


def test_a_rolled_back_booking_leaves_the_sheet_as_it_was(signed, clinician, django_capture_on_commit_callbacks):
    made_ready(signed)
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        book(signed.course.patient, clinician, day(7, 10))
        raise RuntimeError("the request failed after booking")
    assert aftercare_versions(signed) == [1] and callbacks == []
    assert document_of(signed, DocumentKind.AFTERCARE).status == DocumentStatus.READY


def test_a_version_the_broker_lost_is_sent_again_by_the_sweeper(
    signed, summary, clinician, django_capture_on_commit_callbacks
):
    made_ready(signed)
    tasks.render_document.apply(args=[summary.pk])  # only the reissued sheet is left pending
    with (
        mock.patch.object(tasks.render_pending, "delay", side_effect=ConnectionError("broker down")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        book(signed.course.patient, clinician, day(7, 10))
    pending = document_of(signed, DocumentKind.AFTERCARE)
    assert pending.status == DocumentStatus.PENDING

    with (
        mock.patch.object(tasks.render_document, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.documents_sweep(older_than=timedelta(0)) == [pending.pk]
    delay.assert_called_once_with(pending.pk)


def test_a_reissued_sheet_carries_the_clinic_contact_details_configured_when_it_is_made(signed, clinician, settings):
    # Contact details come from settings: a deploy that changes them does not remake old sheets, but every
    # version made after it (such as one a booking makes) prints the new ones.
    settings.CLINIC_PHONE = "+44 20 7946 0001"
    first = made_ready(signed)
    settings.CLINIC_PHONE = "+44 20 7946 0999"
    book(signed.course.patient, clinician, day(7, 10))
    second = made_ready(signed)
    assert "+44 20 7946 0999" in sheet_text(second) and "+44 20 7946 0001" not in sheet_text(second)
    assert "+44 20 7946 0001" in sheet_text(first)  # the older version is kept as it was given


def test_sign_and_book_next_leaves_the_patient_a_sheet_naming_the_session_booked(
    clinician_client, draft, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        signing = clinician_client.post(reverse("treatments:session_sign", args=[draft.pk]), {"then": "book_next"})
    assert NONE_BOOKED in sheet_text(made_ready(draft))  # rendered before the follow-up is booked

    form = clinician_client.get(signing.url).context["form"]
    data = {"clinician": form["clinician"].value(), "starts_at": form["starts_at"].value().strftime("%Y-%m-%dT%H:%M")}
    with django_capture_on_commit_callbacks(execute=False):
        assert clinician_client.post(signing.url, data).status_code == 302
    booked = Appointment.objects.get(patient=draft.course.patient)

    text = sheet_text(made_ready(draft))
    assert shown(booked.starts_at) in text and NONE_BOOKED not in text
