"""Following up the adverse events of a signed session note, on the session page and the event's own page."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from safety import services
from safety.models import AdverseEventFollowUp, FollowUpStatus
from tests.factories import CourseFactory, SessionFactory
from treatments.models import AdverseEvent


def _url(event) -> str:
    return reverse("safety:event_follow_up", args=[event.pk])


def _day(days: int = 0) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def test_the_session_page_shows_each_event_open_with_a_form_to_follow_it_up(clinician_client, event):
    content = clinician_client.get(reverse("treatments:session", args=[event.session_id])).content.decode()
    row = content.split(f'id="adverse-event-{event.pk}"')[1].split("</li>")[0]
    assert "Small bruise, lateral thigh" in row
    assert ">Open</span>" in row
    assert f'action="{_url(event)}"' in row


def test_a_clinician_resolves_an_event_and_the_session_page_shows_it(clinician_client, clinician, event):
    data = {"status": "resolved", "follow_up_on": _day(), "resolution_note": "Phoned: bruise gone."}
    response = clinician_client.post(_url(event), data)
    assert response.status_code == 302
    assert response.url == reverse("treatments:session", args=[event.session_id])
    follow_up = AdverseEventFollowUp.objects.get(adverse_event=event)
    assert (follow_up.status, follow_up.follow_up_on, follow_up.resolution_note, follow_up.updated_by) == (
        "resolved", timezone.localdate(), "Phoned: bruise gone.", clinician,
    )  # fmt: skip
    content = clinician_client.get(response.url).content.decode()
    row = content.split(f'id="adverse-event-{event.pk}"')[1].split("</li>")[0]
    assert ">Resolved</span>" in row and f"follow-up {timezone.localdate():%d/%m/%Y}" in row
    assert "Phoned: bruise gone." in row


def test_an_update_changes_the_one_follow_up_row_and_both_are_in_its_history(clinician_client, event):
    clinician_client.post(_url(event), {"status": "open", "follow_up_on": _day(7), "resolution_note": ""})
    clinician_client.post(_url(event), {"status": "referred", "follow_up_on": _day(), "resolution_note": "To GP"})
    follow_up = AdverseEventFollowUp.objects.get(adverse_event=event)
    assert follow_up.status == FollowUpStatus.REFERRED
    labels = list(follow_up.events.order_by("pgh_id").values_list("pgh_label", "status"))  # pghistory's table
    assert labels == [("insert", "open"), ("update", "referred")]


def test_from_the_log_the_form_goes_back_to_the_log(clinician_client, event):
    data = {"status": "open", "follow_up_on": _day(3), "resolution_note": "", "back": "log"}
    response = clinician_client.post(_url(event), data)
    assert (response.status_code, response.url) == (302, reverse("safety:log"))


def test_the_follow_up_page_shows_the_event_and_its_form(clinician_client, event):
    response = clinician_client.get(_url(event))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Small bruise, lateral thigh" in content and 'id="follow-up-form"' in content


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"status": "closed"}, "status", "Choose open, resolved or referred."),
        ({"status": ""}, "status", "Choose a status."),
        ({"status": "resolved", "resolution_note": ""}, "resolution_note", "Say how it was resolved"),
        ({"status": "resolved", "follow_up_on": ""}, "follow_up_on", "Give the date it was resolved or referred."),
        ({"status": "resolved", "follow_up_on": 1}, "follow_up_on", "dated today or earlier"),
        ({"follow_up_on": -3}, "follow_up_on", "That is before the session"),
        ({"status": "open", "follow_up_on": 400}, "follow_up_on", "up to a year ahead"),
        ({"follow_up_on": "31/02/2026"}, "follow_up_on", "Enter a valid date."),
        ({"resolution_note": "x" * 1001}, "resolution_note", "at most 1000 characters"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_saved(clinician_client, event, data, field, message):
    """A whole number as the date is that many days from today."""
    sent = {"status": "resolved", "follow_up_on": _day(), "resolution_note": "Settled.", **data}
    if isinstance(sent["follow_up_on"], int):
        sent["follow_up_on"] = _day(sent["follow_up_on"])
    response = clinician_client.post(_url(event), sent)
    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors[field])
    assert message in response.content.decode()
    assert not AdverseEventFollowUp.objects.exists()


def test_the_session_date_message_names_the_session_day(clinician_client, event):
    response = clinician_client.post(_url(event), {"status": "open", "follow_up_on": _day(-3)})
    session_day = timezone.localdate(event.session.performed_at)
    assert f"That is before the session ({session_day:%d/%m/%Y}): check the date." in response.content.decode()


def test_a_draft_notes_events_wait_for_the_signature(clinician_client, clinician):
    draft = SessionFactory(course=CourseFactory(created_by=clinician), clinician=clinician, sites=1)
    event = AdverseEvent.objects.create(session=draft, kind="vasovagal", severity="mild")
    response = clinician_client.post(
        _url(event), {"status": "resolved", "follow_up_on": _day(), "resolution_note": "x"}
    )
    assert response.status_code == 409
    assert "still a draft" in response.content.decode()
    assert not AdverseEventFollowUp.objects.exists()
    page = clinician_client.get(reverse("treatments:session", args=[draft.pk])).content.decode()
    assert "Follow-up opens once the note is signed." in page and _url(event) not in page


@pytest.mark.parametrize("persona", ["front_desk_client", "manager_client", "patient_client", "outsider_client"])
def test_only_clinicians_follow_events_up(request, persona, event):
    client = request.getfixturevalue(persona)
    assert client.get(_url(event)).status_code == 403
    data = {"status": "resolved", "follow_up_on": _day(), "resolution_note": "x"}
    assert client.post(_url(event), data).status_code == 403
    assert not AdverseEventFollowUp.objects.exists()


def test_an_unknown_event_is_not_found(clinician_client, event):
    assert clinician_client.get(reverse("safety:event_follow_up", args=[event.pk + 1000])).status_code == 404


def test_a_manager_sees_no_follow_up_form_on_the_log(manager_client, event):
    content = manager_client.get(reverse("safety:log")).content.decode()
    assert f"event-open-{event.pk}" in content and _url(event) not in content


# --- What the database refuses, whatever writes the row ---------------------------------------------------------


def test_a_new_adverse_event_under_a_signed_note_is_refused_which_is_why_follow_up_lives_apart(signed):
    with pytest.raises(IntegrityError, match="signed"), transaction.atomic():
        AdverseEvent.objects.create(session=signed, kind="infection", severity="moderate")


def test_the_database_refuses_a_follow_up_of_a_drafts_event(clinician):
    draft = SessionFactory(course=CourseFactory(created_by=clinician), clinician=clinician, sites=1)
    event = AdverseEvent.objects.create(session=draft, kind="vasovagal", severity="mild")
    with pytest.raises(IntegrityError, match="once its session note is signed"), transaction.atomic():
        AdverseEventFollowUp.objects.create(adverse_event=event, updated_by=clinician)


def test_the_database_refuses_a_follow_up_dated_before_the_session(event, clinician):
    before = timezone.localdate(event.session.performed_at) - timedelta(days=3)
    with pytest.raises(IntegrityError, match="before the adverse event"), transaction.atomic():
        AdverseEventFollowUp.objects.create(adverse_event=event, follow_up_on=before, updated_by=clinician)


def test_the_database_refuses_a_closed_follow_up_without_a_note_or_of_no_event(event, clinician):
    with pytest.raises(IntegrityError, match="follow_up_closed_with_date_and_note"), transaction.atomic():
        AdverseEventFollowUp.objects.create(
            adverse_event=event, status="resolved", follow_up_on=timezone.localdate(), updated_by=clinician
        )
    with pytest.raises(IntegrityError, match="follow_up_of_one_event"), transaction.atomic():
        AdverseEventFollowUp.objects.create(updated_by=clinician)
    with pytest.raises(IntegrityError, match="follow_up_status_known"), transaction.atomic():
        AdverseEventFollowUp.objects.create(adverse_event=event, status="closed", updated_by=clinician)


def test_the_database_refuses_an_update_that_dates_a_resolution_in_the_future(event, clinician):
    services.follow_up_update(event=event, status="open", follow_up_on=None, resolution_note="", by=clinician)
    future = timezone.localdate() + timedelta(days=10)
    with pytest.raises(IntegrityError, match="in the future"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE safety_adverseeventfollowup SET status = 'resolved', follow_up_on = %s, resolution_note = 'x'",
            [future],
        )


# --- The session page reads the same whatever the number of events ---------------------------------------------


def _session_page_queries(client, session) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("treatments:session", args=[session.pk]))
    assert response.status_code == 200
    return len(captured)


def test_the_session_page_runs_a_fixed_number_of_queries(clinician_client, clinician, patient, warm_worker):
    from treatments import services as treatment_services

    def session_with(events: int, number: int):
        course = CourseFactory(patient=patient, created_by=clinician)
        draft = SessionFactory(course=course, clinician=clinician, sites=1, number=number)
        for _ in range(events):
            AdverseEvent.objects.create(session=draft, kind="bruising", severity="mild")
        session = treatment_services.session_sign(session=draft, by=clinician)
        for event in session.adverse_events.all():
            services.follow_up_update(event=event, status="open", follow_up_on=None, resolution_note="", by=clinician)
        for _ in range(events):
            services.delayed_reaction_report(
                patient=patient, session=session, description="Sore", severity="mild", via="staff", by=clinician
            )
        return session

    few = _session_page_queries(clinician_client, session_with(1, 1))
    many = _session_page_queries(clinician_client, session_with(5, 2))
    assert few == many
