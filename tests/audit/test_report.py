"""The managers' audit report: filters, sorting, paging, its CSV export, and the chain check."""

import csv
import io
import re
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.filters import SORTABLE_COLUMNS
from audit.models import Action, AuditEvent, Source
from audit.report import EVENTS_PER_PAGE
from audit.services import append
from tests.audit.helpers import bypass_append_only, events
from tests.factories import PatientFactory, UserFactory

REPORT = reverse("audit:events")
EXPORT = reverse("audit:export")


def at(day: int, hour: int = 12) -> datetime:
    """A moment in clinic time, `day` days before today."""
    today = timezone.localdate()
    return timezone.make_aware(datetime.combine(today - timedelta(days=day), datetime.min.time()).replace(hour=hour))


def event(action=Action.PATIENT_VIEWED, *, when=None, username="alice", patient=None, **fields) -> AuditEvent:
    """An event as record() would write it, at a chosen time, chained onto the trail the same way."""
    return append(
        AuditEvent(
            action=action, occurred_at=when or timezone.now(), actor_username=username, patient=patient, **fields
        )
    )


def shown(response, among=None) -> list[int]:
    """The ids of the events on the page, in order; only those `among` the given events if any are given
    (creating the personas writes events of its own, ROLE_CHANGED)."""
    pks = [int(pk) for pk in re.findall(r'data-event="(\d+)"', response.text)]
    return pks if among is None else [pk for pk in pks if pk in {item.pk for item in among}]


def read_csv(response) -> list[dict]:
    assert response.streaming
    content = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(content)))


@pytest.fixture
def trail(db, patient, other_patient):
    """Events over three days, by three users, about two patients."""
    return [
        event(Action.PATIENT_VIEWED, when=at(3), username="alice", patient=patient, ip_address="203.0.113.5"),
        event(
            Action.DOCUMENT_DOWNLOADED,
            when=at(2),
            username="bob",
            patient=other_patient,
            object_type="documents.document",
            object_id="7",
        ),
        event(Action.RECORD_VIEWED, when=at(2, 15), username="alice", patient=other_patient, source=Source.WEB),
        event(Action.DOCUMENT_RENDERED, when=at(1), username="", patient=patient, source=Source.TASK),
        event(Action.EXPORT, when=at(0, 1), username="mona", ip_address="198.51.100.2", source=Source.COMMAND),
    ]


def ids(*picked: AuditEvent) -> set[int]:
    return {item.pk for item in picked}


def test_the_report_lists_events_newest_first(manager_client, trail):
    response = manager_client.get(REPORT)
    assert response.status_code == 200
    assert shown(response, trail) == [item.pk for item in reversed(trail)]
    assert shown(response)[: len(trail)] == [item.pk for item in reversed(trail)]
    assert "Document downloaded" in response.text and "document 7" in response.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (lambda t, p, o: {"patient": p.clinic_number}, lambda t: ids(t[0], t[3])),
        (lambda t, p, o: {"patient": p.clinic_number.lower()}, lambda t: ids(t[0], t[3])),
        (lambda t, p, o: {"patient": o.family_name}, lambda t: ids(t[1], t[2])),
        (lambda t, p, o: {"user": "ALICE"}, lambda t: ids(t[0], t[2])),
        (lambda t, p, o: {"action": Action.DOCUMENT_DOWNLOADED}, lambda t: ids(t[1])),
        (lambda t, p, o: {"date_from": at(2).date().isoformat()}, lambda t: ids(*t[1:])),
        (lambda t, p, o: {"date_to": at(2).date().isoformat()}, lambda t: ids(*t[:3])),
        (
            lambda t, p, o: {"date_from": at(2).date().isoformat(), "date_to": at(2).date().isoformat()},
            lambda t: ids(t[1], t[2]),
        ),
        (lambda t, p, o: {"user": "alice", "patient": o.clinic_number}, lambda t: ids(t[2])),
        (lambda t, p, o: {"user": "nobody"}, lambda t: set()),
    ],
    ids=[
        "clinic number",
        "clinic number in lower case",
        "name search",
        "user",
        "action",
        "from",
        "to",
        "one day",
        "user and patient",
        "no match",
    ],
)
def test_filters_narrow_the_report(manager_client, trail, patient, other_patient, query, expected):
    response = manager_client.get(REPORT, query(trail, patient, other_patient))
    assert response.status_code == 200
    assert set(shown(response, trail)) == expected(trail)


def test_the_day_filters_follow_the_clinic_s_midnight(manager_client, db, settings):
    settings.TIME_ZONE = "Europe/London"
    today = timezone.localdate()
    just_before = event(when=timezone.make_aware(datetime.combine(today, datetime.min.time())) - timedelta(seconds=1))
    just_after = event(when=timezone.make_aware(datetime.combine(today, datetime.min.time())))
    response = manager_client.get(REPORT, {"date_from": today.isoformat(), "date_to": today.isoformat()})
    assert shown(response, [just_before, just_after]) == [just_after.pk]
    yesterday = (today - timedelta(days=1)).isoformat()
    response = manager_client.get(REPORT, {"date_to": yesterday})
    assert shown(response, [just_before, just_after]) == [just_before.pk]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"date_from": "2025-03-10", "date_to": "2025-03-01"}, "on or before"),
        ({"date_from": "2025-02-31"}, "valid date"),
        ({"date_to": "yesterday"}, "valid date"),
        ({"date_from": "1999-12-31"}, "2000 or later"),
        ({"date_to": "9999-12-31"}, "before the year 3000"),
        ({"action": "drop_table"}, "valid choice"),
        ({"o": "password"}, "Unknown sort order"),
        ({"o": "when,-nothing"}, "Unknown sort order"),
        ({"patient": "x" * 101}, "at most 100"),
        ({"user": "u" * 151}, "at most 150"),
    ],
)
def test_bad_filters_are_explained_with_a_400_never_a_500(manager_client, manager, trail, query, message):
    for url in (REPORT, EXPORT):
        response = manager_client.get(url, query)
        assert response.status_code == 400, url
        assert message in response.content.decode(), url
        assert not shown(response)
    assert not events(Action.EXPORT, actor=manager)


@pytest.mark.parametrize(
    "query", [{"page": "abc"}, {"page": "-1"}, {"page": "99999"}, {"unknown": "1"}, {"patient": "'; --"}]
)
def test_odd_but_harmless_input_is_answered(manager_client, trail, query):
    assert manager_client.get(REPORT, query).status_code == 200


@pytest.mark.parametrize("column", list(SORTABLE_COLUMNS))
@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
def test_sorting_by_each_column(manager_client, trail, column, descending):
    field = SORTABLE_COLUMNS[column]
    order = f"-{field}" if descending else field
    expected = list(AuditEvent.objects.order_by(order, "-id").values_list("pk", flat=True))
    response = manager_client.get(REPORT, {"o": f"-{column}" if descending else column})
    assert response.status_code == 200
    assert shown(response) == expected
    assert 'aria-sort="descending"' in response.text if descending else 'aria-sort="ascending"' in response.text


def test_a_sort_link_keeps_the_filters(manager_client, trail):
    response = manager_client.get(REPORT, {"user": "alice", "o": "action"})
    assert "?user=alice&amp;o=-action" in response.text


def test_the_report_pages_and_the_page_links_keep_the_filters(manager_client, db):
    for _ in range(EVENTS_PER_PAGE + 5):
        event(username="alice")
    event(username="bob")
    first = manager_client.get(REPORT, {"user": "alice"})
    assert len(shown(first)) == EVENTS_PER_PAGE
    assert "?user=alice&amp;page=2" in first.text
    second = manager_client.get(REPORT, {"user": "alice", "page": "2"})
    assert len(shown(second)) == 5
    assert set(shown(first)).isdisjoint(shown(second))


def _queries(client, capture, count: int, patient) -> int:
    for _ in range(count - AuditEvent.objects.count()):
        event(patient=patient, object_type="documents.document", object_id="1", detail={"via": "staff"})
    with capture(12) as queries:
        assert client.get(REPORT, {"o": "patient"}).status_code == 200
    return len(queries.captured_queries)


def test_the_report_runs_a_fixed_number_of_queries(manager_client, django_assert_max_num_queries, db):
    patients = [PatientFactory() for _ in range(3)]
    few = _queries(manager_client, django_assert_max_num_queries, 3, patients[0])
    many = _queries(manager_client, django_assert_max_num_queries, 45, patients[1])
    assert few == many


# --- CSV export --------------------------------------------------------------------------------------------------


def test_the_export_is_the_filtered_report_as_csv(manager_client, trail, other_patient):
    response = manager_client.get(EXPORT, {"patient": other_patient.clinic_number, "o": "when"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-trail-')
    rows = read_csv(response)
    assert [int(row["id"]) for row in rows] == [trail[1].pk, trail[2].pk]
    assert rows[0]["action"] == Action.DOCUMENT_DOWNLOADED and rows[0]["username"] == "bob"
    assert rows[0]["patient_clinic_number"] == other_patient.clinic_number
    assert rows[0]["object_type"] == "documents.document" and rows[0]["object_id"] == "7"
    stored = AuditEvent.objects.get(pk=trail[1].pk)
    assert rows[0]["hash"] == stored.hash


def test_the_export_writes_an_export_event_with_its_filters(manager_client, manager, trail, other_patient):
    manager_client.get(
        EXPORT, {"patient": other_patient.clinic_number, "action": "record_viewed", "date_from": "2025-01-01"}
    )
    [exported] = events(Action.EXPORT, actor=manager)
    assert exported.patient == other_patient
    assert exported.detail == {
        "export": "audit_report",
        "format": "csv",
        "filters": {"patient": [other_patient.pk], "action": "record_viewed", "date_from": "2025-01-01"},
    }


def test_a_name_searched_for_is_exported_as_patient_ids_not_as_the_name(manager_client, manager, trail, other_patient):
    rows = read_csv(manager_client.get(EXPORT, {"patient": other_patient.family_name}))
    assert {int(row["id"]) for row in rows} == ids(trail[1], trail[2])  # the personas' ROLE_CHANGED have no patient
    [exported] = events(Action.EXPORT, actor=manager)
    assert exported.detail["filters"] == {"patient": [other_patient.pk]}
    assert other_patient.family_name not in str(exported.detail) + exported.path


def test_the_export_does_not_include_itself(manager_client, trail):
    everything = set(AuditEvent.objects.values_list("pk", flat=True))
    rows = read_csv(manager_client.get(EXPORT))
    assert {int(row["id"]) for row in rows} == everything
    assert AuditEvent.objects.count() == len(everything) + 1


@pytest.mark.parametrize("typed", ['=HYPERLINK("http://evil")', "+1+2", "-2+3", "@SUM(A1)", "\tcmd"])
def test_cells_a_spreadsheet_would_run_are_defused(manager_client, db, typed):
    event(Action.LOGIN_FAILED, username=typed, detail={"reason": "bad password"})
    [row] = read_csv(manager_client.get(EXPORT, {"action": Action.LOGIN_FAILED}))
    assert row["username"] == f"'{typed}"


def test_viewing_without_the_export_permission_gives_the_report_but_not_the_export(db, trail):
    viewer = UserFactory(username="vic")
    viewer.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client = Client()
    client.force_login(viewer)
    assert client.get(REPORT).status_code == 200
    assert 'id="audit-export"' not in client.get(REPORT).text
    assert client.get(EXPORT).status_code == 403


# --- The chain check ---------------------------------------------------------------------------------------------


def test_the_chain_check_runs_when_asked_and_says_it_is_intact(manager_client, trail):
    page = manager_client.get(reverse("audit:verify"))
    assert page.status_code == 200 and 'id="chain-result"' not in page.text
    checked = manager_client.post(reverse("audit:verify"))
    assert checked.status_code == 200
    assert f"intact: {AuditEvent.objects.count()} events checked" in checked.text


def test_the_chain_check_names_an_altered_event(manager_client, trail):
    bypass_append_only("UPDATE audit_auditevent SET actor_username = 'someone' WHERE id = %s", [trail[2].pk])
    checked = manager_client.post(reverse("audit:verify"))
    assert f"broken at event {trail[2].pk}" in checked.text
