"""The clinic-wide adverse-event log: who may read it, what it lists, its CSV, and its fixed cost in queries."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assessments.models import Nerve
from audit.models import Action, AuditEvent
from safety import services
from tests.factories import CourseFactory, PatientFactory, SessionFactory, UserFactory
from tests.safety.helpers import signed_batch
from treatments.models import AdverseEvent

LOG = reverse("safety:log")
CSV = reverse("safety:log_csv")


@pytest.mark.parametrize(
    ("persona", "status"),
    [("clinician_client", 200), ("manager_client", 200), ("front_desk_client", 403), ("patient_client", 403),
     ("outsider_client", 403)],
)  # fmt: skip
def test_clinicians_and_managers_read_the_log_and_its_csv(request, persona, status, event):
    client = request.getfixturevalue(persona)
    assert client.get(LOG).status_code == status
    assert client.get(CSV).status_code == status


def test_the_log_lists_the_periods_events_with_their_follow_up(clinician_client, clinician, event, patient):
    services.follow_up_update(
        event=event, status="open", follow_up_on=timezone.localdate() + timedelta(days=5), resolution_note="",
        by=clinician,
    )  # fmt: skip
    response = clinician_client.get(LOG)
    [row] = response.context["events"]
    session = event.session
    assert (row.pk, row.patient, row.session, row.kind, row.severity, row.status) == (
        event.pk, patient, session, "Bruising", "Mild", "Open",
    )  # fmt: skip
    assert row.follow_up_on == timezone.localdate() + timedelta(days=5)
    content = response.content.decode()
    assert f'id="event-log-{event.pk}"' in content
    assert (timezone.localdate() + timedelta(days=5)).strftime("%d/%m/%Y") in content


def test_drafts_events_are_not_listed(clinician_client, clinician):
    draft = SessionFactory(course=CourseFactory(created_by=clinician), clinician=clinician, sites=1)
    AdverseEvent.objects.create(session=draft, kind="vasovagal", severity="severe")
    response = clinician_client.get(LOG)
    assert response.context["events"] == [] and response.context["open_events"] == []


def test_open_events_list_the_viewers_own_first_and_closed_ones_leave(clinician_client, clinician, colleague):
    theirs_new = signed_batch(CourseFactory(created_by=colleague), 1, lot="L", clinician=colleague, events=1)[0]
    mine_old = signed_batch(CourseFactory(created_by=clinician), 2, lot="L", clinician=clinician, events=2, days_ago=3)
    closed = mine_old[1].adverse_events.get()
    services.follow_up_update(
        event=closed, status="resolved", follow_up_on=timezone.localdate(), resolution_note="Settled", by=clinician
    )
    response = clinician_client.get(LOG)
    open_events = [(row.session.pk, row.session.clinician_id) for row in response.context["open_events"]]
    # Alice's open event (3 days ago) before Yann's newer one; her resolved event is gone from the list.
    assert open_events == [(mine_old[0].pk, clinician.pk), (theirs_new.pk, colleague.pk)]
    assert len(response.context["events"]) == 3  # the log still lists all three


def test_an_open_event_older_than_the_period_is_still_listed_as_open(clinician_client, clinician):
    course = CourseFactory(created_by=clinician, started_on=timezone.localdate() - timedelta(days=600))
    [old] = signed_batch(course, 1, lot="L", clinician=clinician, events=1, days_ago=500)
    response = clinician_client.get(LOG)
    assert response.context["events"] == []
    assert [row.session.pk for row in response.context["open_events"]] == [old.pk]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?first=2026-05-01&last=2026-04-01", "The start is after the end"),
        ("?first=1850-01-01", "Choose a date from 1900 on."),
        ("?first=not-a-date", "Enter a valid date."),
    ],
)
def test_a_period_that_makes_no_sense_is_a_400_with_its_message(clinician_client, query, message):
    for url in (LOG, CSV):
        response = clinician_client.get(url + query)
        assert response.status_code == 400
        assert message in response.content.decode()
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_csv_lists_the_events_neutralised_and_its_export_is_audited(clinician_client, clinician, manager_client):
    hostile = PatientFactory(given_name='=HYPERLINK("http://x")', family_name="@Evil", clinic_number="-T1")
    [session] = signed_batch(CourseFactory(patient=hostile, created_by=clinician), 1, lot="L", clinician=clinician,
                             events=1)  # fmt: skip
    services.delayed_reaction_report(
        patient=hostile, description="+1 sore", severity="moderate", kind="site_pain", via="staff", by=clinician
    )
    response = manager_client.get(CSV)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="adverse-events-')
    header, *rows = _csv(response)
    assert header[:3] == ["date", "patient", "clinic number"]
    assert len(rows) == 2
    for row in rows:
        assert row[1] == '\'=HYPERLINK("http://x") @Evil' and row[2] == "'-T1"
        assert row[3] == str(session.number)
    assert sorted(row[7] for row in rows) == ["Bruising", "Injection-site pain"]
    assert {row[9] for row in rows} == {"Open"}
    [export] = AuditEvent.objects.filter(action=Action.EXPORT)
    assert export.detail["export"] == "adverse_event_log" and export.detail["rows"] == 2
    assert export.patient_id == hostile.pk and export.detail["patients"] == [hostile.pk]


# --- A fixed number of queries whatever the data -----------------------------------------------------------------


def _add_clinic_data(clinician, colleague, rounds: int) -> None:
    """Per round: two lots, two clinicians, two nerves, events in notes, a reaction reported later, follow-ups."""
    nerves = list(Nerve.objects.filter(active=True).order_by("pk")[:2])
    for round_number in range(rounds):
        for who in (clinician, colleague):
            course = CourseFactory(created_by=who)
            sessions = signed_batch(course, 3, lot=f"LOT-{round_number}", clinician=who, events=2, nerves=nerves)
            reaction = services.delayed_reaction_report(
                patient=course.patient, session=sessions[2], description="Sore", severity="mild", via="staff", by=who
            )
            services.follow_up_update(
                event=reaction, status="open", follow_up_on=timezone.localdate(), resolution_note="", by=who
            )
            services.follow_up_update(
                event=sessions[0].adverse_events.get(), status="resolved", follow_up_on=timezone.localdate(),
                resolution_note="Settled", by=who,
            )  # fmt: skip


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", [LOG, CSV, reverse("home")])
def test_the_pages_run_a_fixed_number_of_queries(clinician_client, clinician, colleague, warm_worker, url):
    _add_clinic_data(clinician, colleague, 1)
    few = _queries(clinician_client, url)
    _add_clinic_data(clinician, colleague, 4)
    UserFactory()  # and more people about
    many = _queries(clinician_client, url)
    assert few == many, f"{few} queries with little data, {many} with more: something is read once per row"
    assert many <= 12
