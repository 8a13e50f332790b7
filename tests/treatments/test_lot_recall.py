"""Lot recall: every patient injected (signed notes) from a product lot, as a page and a CSV, each audited as a
disclosure of every listed patient's data; drafts counted, never listed; a fixed number of queries."""

import csv
import io
import itertools
from datetime import date, datetime, time, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.exports import csv_safe
from audit.models import Action, AuditEvent
from audit.services import verify_chain
from tests.factories import CourseFactory, PatientFactory, SessionFactory, signed_session
from treatments import lots
from treatments.models import InjectionSession

PAGE = reverse("treatments:lot_recall")
CSV = reverse("treatments:lot_recall_csv")


def today() -> date:
    return timezone.localdate()


def at_noon(days_ago: int) -> datetime:
    return timezone.make_aware(datetime.combine(today() - timedelta(days=days_ago), time(12)))


def day(days_ago: int) -> str:
    return (today() - timedelta(days=days_ago)).strftime("%d/%m/%Y")


def injected(patient, clinician, lot: str, days_ago: int, *, signed: bool = True, number: int = 1, **extra):
    course = extra.pop("course", None) or CourseFactory(patient=patient, created_by=clinician)
    make = signed_session if signed else SessionFactory
    return make(
        course=course,
        clinician=clinician,
        lot_number=lot,
        performed_at=at_noon(days_ago),
        number=number,
        lot_expiry=date(2027, 6, 30),
        **extra,
    )


def recall_events(**filters):
    return AuditEvent.objects.filter(action=Action.EXPORT, detail__export="lot_recall", **filters)


@pytest.fixture
def seeded(clinician):
    """Sessions across patients and lots. Lot DX-100 (written in any case) was used, signed, for Abbott twice
    in one course, Baker once, and Evans 20 days ago; Baker and Cole also have drafts naming it (Cole nothing
    else). Dale's DX-1000 and Abbott's DX-200 are other lots."""
    abbott = PatientFactory(
        family_name="Abbott",
        given_name="Ann",
        date_of_birth=date(1961, 4, 9),
        phone="+447911123402",
        email="ann@example.org",
        address_line1="1 Mill Lane",
        address_line2="",
        town="Leeds",
        postcode="LS1 1AA",
    )
    baker = PatientFactory(
        family_name="Baker",
        given_name="Ben",
        date_of_birth=date(1975, 11, 30),
        phone="",
        email="",
        address_line1="",
        town="",
        postcode="",
    )
    cole = PatientFactory(family_name="Cole", given_name="Cara")
    dale = PatientFactory(family_name="Dale", given_name="Dev")
    evans = PatientFactory(family_name="Evans", given_name="Eve", phone="+447700900123", address_line1="")
    course = CourseFactory(patient=abbott, created_by=clinician)
    sessions = {
        "abbott_1": injected(abbott, clinician, "DX-100", 5, course=course, number=1),
        "abbott_2": injected(abbott, clinician, "dx-100", 2, course=course, number=2),
        "abbott_other": injected(abbott, clinician, "DX-200", 3),
        "baker": injected(baker, clinician, "Dx-100", 4),
        "baker_draft": injected(baker, clinician, "DX-100", 1, signed=False, number=2),
        "cole_draft": injected(cole, clinician, "DX-100", 1, signed=False),
        "dale": injected(dale, clinician, "DX-1000", 3),
        "evans": injected(evans, clinician, "DX-100", 20),
    }
    patients = {"abbott": abbott, "baker": baker, "cole": cole, "dale": dale, "evans": evans}
    return {"patients": patients, "sessions": sessions}


def listed(response) -> list[tuple[int, list[int]]]:
    return [(line.patient_id, [s.session_id for s in line.sessions]) for line in response.context["recall"].patients]


def csv_of(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- What is found --------------------------------------------------------------------------------------------


def test_the_page_lists_the_signed_sessions_of_the_lot_per_patient(clinician_client, seeded):
    response = clinician_client.get(PAGE, {"lot": "  dx-100 "})
    assert response.status_code == 200
    p, s = seeded["patients"], seeded["sessions"]
    # By family name, each patient's sessions oldest first; drafts and other lots left out.
    assert listed(response) == [
        (p["abbott"].pk, [s["abbott_1"].pk, s["abbott_2"].pk]),
        (p["baker"].pk, [s["baker"].pk]),
        (p["evans"].pk, [s["evans"].pk]),
    ]
    assert "3 patients, 4 sessions." in response.text
    assert "2 draft notes also name this lot and are not listed" in response.text


def test_the_results_match_a_direct_reading_of_every_session(clinician_client, seeded):
    everything = InjectionSession.objects.select_related("course")
    expected: dict[int, list[int]] = {}
    for session in sorted(everything, key=lambda session: session.performed_at):
        if session.lot_number.strip().upper() == "DX-100" and session.signed_at is not None:
            expected.setdefault(session.course.patient_id, []).append(session.pk)
    response = clinician_client.get(PAGE, {"lot": "DX-100"})
    assert dict(listed(response)) == expected
    assert response.context["recall"].drafts == 2


def test_the_page_shows_contact_details_dates_and_links(clinician_client, seeded):
    response = clinician_client.get(PAGE, {"lot": "DX-100"})
    abbott, first = seeded["patients"]["abbott"], seeded["sessions"]["abbott_1"]
    body = response.text.split(f'id="lot-recall-patient-{abbott.pk}"', 1)[1].split("</tbody>", 1)[0]
    for shown in (
        "Abbott, Ann",
        "09/04/1961",
        "+44 7911 123402",
        "ann@example.org",
        "1 Mill Lane, Leeds, LS1 1AA",
        day(5),
        day(2),
        "Low back pain",
        "Alice Carter",
        "30/06/2027",
    ):
        assert shown in body
    assert f'href="{reverse("patients:detail", args=[abbott.pk])}"' in body
    assert f'href="{reverse("treatments:session", args=[first.pk])}">Session 1</a>' in body


def test_managers_see_the_session_numbers_without_links_to_notes_they_may_not_open(manager_client, seeded):
    response = manager_client.get(PAGE, {"lot": "DX-100"})
    assert response.status_code == 200
    assert "Session 1" in response.text
    assert reverse("treatments:session", args=[seeded["sessions"]["abbott_1"].pk]) not in response.text


def test_the_dates_limit_the_sessions(clinician_client, seeded):
    p = seeded["patients"]
    # From 10 days ago: Evans (20 days ago) is out; to 3 days ago: Abbott's second and the drafts are out too.
    response = clinician_client.get(
        PAGE,
        {"lot": "DX-100", "date_from": str(today() - timedelta(days=10)), "date_to": str(today() - timedelta(days=3))},
    )
    assert listed(response) == [
        (p["abbott"].pk, [seeded["sessions"]["abbott_1"].pk]),
        (p["baker"].pk, [seeded["sessions"]["baker"].pk]),
    ]
    assert response.context["recall"].drafts == 0
    assert "lot-recall-drafts" not in response.text


def test_the_from_and_to_days_are_the_clinic_s_whole_days(clinician_client, seeded):
    one_day = str(today() - timedelta(days=2))
    response = clinician_client.get(PAGE, {"lot": "DX-100", "date_from": one_day, "date_to": one_day})
    assert listed(response) == [(seeded["patients"]["abbott"].pk, [seeded["sessions"]["abbott_2"].pk])]


def test_a_lot_that_only_starts_the_same_is_not_a_match_but_is_offered(clinician_client, seeded):
    response = clinician_client.get(PAGE, {"lot": "dx-10"})
    assert response.status_code == 200
    assert listed(response) == []
    assert "No signed session note records this lot." in response.text
    # DX-100: 4 signed (Abbott 2, Baker, Evans) and 2 drafts; DX-1000: Dale's one.
    offered = [(lot.lot, lot.signed, lot.drafts) for lot in response.context["matching"]]
    assert offered == [("DX-100", 4, 2), ("DX-1000", 1, 0)]
    assert 'href="?lot=DX-100"' in response.text
    assert not recall_events().exists()


def test_wildcards_in_the_lot_are_plain_characters(clinician_client, seeded):
    injected(seeded["patients"]["dale"], seeded["sessions"]["dale"].clinician, "DX_1%", 2)
    assert [lot.lot for lot in clinician_client.get(PAGE, {"lot": "DX_"}).context["matching"]] == ["DX_1%"]
    assert [lot.lot for lot in clinician_client.get(PAGE, {"lot": "DX%"}).context["matching"]] == []


def test_the_list_of_lots_is_capped(clinician_client, clinician, monkeypatch):
    monkeypatch.setattr(lots, "LOTS_LISTED", 2)
    patient = PatientFactory()
    course = CourseFactory(patient=patient, created_by=clinician)
    for number, lot in enumerate(["AB-3", "AB-1", "AB-2"], start=1):
        injected(patient, clinician, lot, 2, course=course, number=number)
    response = clinician_client.get(PAGE, {"lot": "ab"})
    assert [lot.lot for lot in response.context["matching"]] == ["AB-1", "AB-2"]
    assert "Only the first 2 lots are shown" in response.text


# --- Who may search ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [PAGE, CSV])
@pytest.mark.parametrize(
    ("role", "status"),
    [("clinician", 200), ("manager", 200), ("front_desk", 403), ("patient", 403), ("outsider", 403)],
)
def test_clinicians_and_managers_may_search_nobody_else(request, url, role, status, seeded):
    client = request.getfixturevalue(f"{role}_client")
    assert client.get(url, {"lot": "DX-100"}).status_code == status
    assert recall_events().exists() == (status == 200)


@pytest.mark.parametrize("url", [PAGE, CSV])
def test_anonymous_visitors_are_sent_to_sign_in(client, url, seeded):
    response = client.get(url, {"lot": "DX-100"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not recall_events().exists()


def test_the_main_menu_links_the_page_for_those_who_may_use_it(clinician_client, manager_client, front_desk_client):
    link = f'<a class="dropdown-item" href="{PAGE}">Lot recall</a>'
    assert link in clinician_client.get(reverse("home")).text
    assert link in manager_client.get(reverse("home")).text
    assert link not in front_desk_client.get(reverse("home")).text


def test_a_post_is_refused(clinician_client):
    assert clinician_client.post(PAGE, {"lot": "DX-100"}).status_code == 405


# --- The CSV ---------------------------------------------------------------------------------------------------


def test_the_csv_holds_exactly_what_the_page_lists(clinician_client, seeded):
    p, s = seeded["patients"], seeded["sessions"]
    response = clinician_client.get(CSV, {"lot": "dx-100"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="lot-recall-DX-100-{today().isoformat()}.csv"'
    # A phone number starts with "+", which a spreadsheet would read as a formula: it is neutralised too.
    abbott = [
        "Abbott, Ann",
        p["abbott"].clinic_number,
        "09/04/1961",
        "'+44 7911 123402",
        "ann@example.org",
        "1 Mill Lane, Leeds, LS1 1AA",
    ]
    baker = ["Baker, Ben", p["baker"].clinic_number, "30/11/1975", "", "", ""]
    evans = p["evans"]
    evans_row = [
        "Evans, Eve",
        evans.clinic_number,
        evans.date_of_birth.strftime("%d/%m/%Y"),
        "'+44 7700 900123",
        evans.email,
        "",
    ]
    assert csv_of(response) == [
        lots.CSV_HEADER,
        [*abbott, day(5), "Low back pain", str(s["abbott_1"].number), "Alice Carter", "30/06/2027"],
        [*abbott, day(2), "Low back pain", str(s["abbott_2"].number), "Alice Carter", "30/06/2027"],
        [*baker, day(4), "Low back pain", str(s["baker"].number), "Alice Carter", "30/06/2027"],
        [*evans_row, day(20), "Low back pain", str(s["evans"].number), "Alice Carter", "30/06/2027"],
    ]
    page = clinician_client.get(PAGE, {"lot": "dx-100"})
    assert [row[:6] for row in csv_of(clinician_client.get(CSV, {"lot": "dx-100"}))[1:]] == [
        [
            csv_safe(cell)
            for cell in (line.name, line.clinic_number, line.date_of_birth, line.phone, line.email, line.address)
        ]
        for line in page.context["recall"].patients
        for _ in line.sessions
    ]


def test_cells_a_spreadsheet_would_run_as_formulas_are_neutralised(clinician_client, clinician):
    patient = PatientFactory(
        family_name='=HYPERLINK("http://evil.example","Open")',
        given_name="+Zed",
        email="",
        address_line1="@SUM(A1)",
        town="-1+1",
        postcode="",
    )
    injected(patient, clinician, "DX-777", 2)
    rows = csv_of(clinician_client.get(CSV, {"lot": "DX-777"}))
    assert rows[1][0] == "'" + '=HYPERLINK("http://evil.example","Open"), +Zed'
    assert rows[1][5] == "'@SUM(A1), -1+1"
    # On the page the name is text, escaped.
    page = clinician_client.get(PAGE, {"lot": "DX-777"}).text
    assert "=HYPERLINK(&quot;http://evil.example&quot;,&quot;Open&quot;), +Zed" in page


def test_a_csv_that_lists_nobody_is_its_header_and_records_nothing(clinician_client, seeded):
    response = clinician_client.get(CSV, {"lot": "NO-SUCH-LOT"})
    assert csv_of(response) == [lots.CSV_HEADER]
    assert not recall_events().exists()


def test_a_file_name_keeps_only_the_lot_s_plain_characters(clinician_client, clinician):
    injected(PatientFactory(), clinician, 'ab/"c 1', 2)
    response = clinician_client.get(CSV, {"lot": 'AB/"C 1'})
    assert response["Content-Disposition"] == f'attachment; filename="lot-recall-ABC1-{today().isoformat()}.csv"'
    assert len(csv_of(response)) == 2


# --- Disclosures -----------------------------------------------------------------------------------------------


def test_the_page_and_the_csv_are_each_a_disclosure_of_every_listed_patient(clinician_client, clinician, seeded):
    p = seeded["patients"]
    clinician_client.get(PAGE, {"lot": "dx-100"})
    clinician_client.get(CSV, {"lot": "DX-100", "date_from": str(today() - timedelta(days=10))})
    page_events = recall_events(detail__via="page").order_by("id")
    assert [(event.patient_id, event.detail) for event in page_events] == [
        (p["abbott"].pk, {"export": "lot_recall", "lot": "dx-100", "via": "page", "sessions": 2}),
        (p["baker"].pk, {"export": "lot_recall", "lot": "dx-100", "via": "page", "sessions": 1}),
        (p["evans"].pk, {"export": "lot_recall", "lot": "dx-100", "via": "page", "sessions": 1}),
    ]
    since = str(today() - timedelta(days=10))
    assert [(event.patient_id, event.detail) for event in recall_events(detail__via="csv").order_by("id")] == [
        (p["abbott"].pk, {"export": "lot_recall", "lot": "DX-100", "from": since, "via": "csv", "sessions": 2}),
        (p["baker"].pk, {"export": "lot_recall", "lot": "DX-100", "from": since, "via": "csv", "sessions": 1}),
    ]
    for event in recall_events():
        assert event.actor == clinician
        assert event.path in (PAGE, CSV)  # the lot is in the detail, never a query string in the path
    # Cole's draft and Dale's other lot were never shown.
    assert not recall_events(patient__in=[p["cole"], p["dale"]]).exists()
    assert verify_chain().intact


def test_the_patient_s_accounting_of_disclosures_names_the_search(clinician_client, manager_client, seeded):
    abbott = seeded["patients"]["abbott"]
    clinician_client.get(PAGE, {"lot": "dx-100"})
    clinician_client.get(
        CSV, {"lot": "DX-100", "date_from": str(today() - timedelta(days=30)), "date_to": str(today())}
    )
    response = manager_client.get(reverse("audit:disclosures", args=[abbott.pk]))
    rows = response.text.split('id="disclosures"', 1)[1]
    assert (
        f"<td>Alice Carter</td><td>Lot recall search for lot DX-100, injections from {day(30)} to {day(0)} (CSV)</td>"
        "<td>Exported as a CSV file</td>"
    ) in rows
    assert (
        "<td>Alice Carter</td><td>Lot recall search for lot dx-100 (page)</td>"
        "<td>Shown on a page of the clinic&#x27;s system</td>"
    ) in rows
    export = manager_client.get(reverse("audit:disclosures_export", args=[abbott.pk]))
    whats = [row[2] for row in csv_of(export)[1:]]
    assert "Lot recall search for lot dx-100 (page)" in whats


def test_a_search_that_lists_nobody_records_no_disclosure(clinician_client, seeded):
    assert clinician_client.get(PAGE, {"lot": "ZZ-1"}).status_code == 200
    # Since yesterday: only the drafts, which are not listed.
    yesterday = str(today() - timedelta(days=1))
    assert clinician_client.get(PAGE, {"lot": "DX-100", "date_from": yesterday}).context["recall"].drafts == 2
    assert not recall_events().exists()


def test_many_patients_disclosed_at_once_keep_the_chain_intact(clinician_client, clinician):
    for _ in range(6):
        injected(PatientFactory(), clinician, "CH-1", 2)
    clinician_client.get(PAGE, {"lot": "CH-1"})
    events = list(recall_events().order_by("id"))
    assert len(events) == 6
    assert len({event.occurred_at for event in events}) == 1
    check = verify_chain()
    assert check.intact, check.problem
    linked = list(AuditEvent.objects.order_by("id").values_list("prev_hash", "hash"))
    assert all(after[0] == before[1] for before, after in itertools.pairwise(linked))


# --- Bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"lot": ""}, "lot", "Enter the product lot, as printed on the vial."),
        ({"lot": "   "}, "lot", "Enter the product lot, as printed on the vial."),
        ({"date_from": "2026-01-01"}, "lot", "Enter the product lot, as printed on the vial."),
        ({"lot": "X" * 41}, "lot", "A lot has at most 40 characters."),
        ({"lot": "DX-100", "date_from": "2026-13-01"}, "date_from", "Enter a valid date."),
        ({"lot": "DX-100", "date_to": "NaN"}, "date_to", "Enter a valid date."),
        ({"lot": "DX-100", "date_from": "1899-12-31"}, "date_from", "Pick a date in 1900 or later."),
        ({"lot": "DX-100", "date_to": "9999-12-31"}, "date_to", "Pick a date before the year 3000."),
        (
            {"lot": "DX-100", "date_from": "2026-02-02", "date_to": "2026-02-01"},
            "__all__",
            "The “from” date must be on or before the “to” date.",
        ),
    ],
)
@pytest.mark.parametrize("url", [PAGE, CSV])
def test_bad_input_is_a_400_naming_the_field(clinician_client, seeded, url, query, field, message):
    response = clinician_client.get(url, query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert response.context["form"].errors[field] == [message]
    assert message.replace("“", "&ldquo;").replace("”", "&rdquo;") in response.text or message in response.text
    assert not recall_events().exists()


def test_a_lot_of_exactly_40_characters_is_searched(clinician_client, clinician):
    lot = "L" * 40
    injected(PatientFactory(), clinician, lot, 2)
    response = clinician_client.get(PAGE, {"lot": lot.lower()})
    assert response.status_code == 200
    assert len(response.context["recall"].patients) == 1


@pytest.mark.parametrize("lot", ["DX\x00100", "a\x01b", "\x1b[31m", "DX\x7f"])
@pytest.mark.parametrize("url", [PAGE, CSV])
def test_control_characters_are_a_400(clinician_client, url, lot):
    response = clinician_client.get(url, {"lot": lot})
    assert response.status_code == 400
    assert b"control characters" in response.content


def test_the_form_itself_refuses_control_characters():
    form = lots.LotRecallForm({"lot": "DX\x1b100"})
    assert not form.is_valid()
    assert "control characters" in form.errors["lot"][0]


def test_an_unfilled_form_is_the_empty_page(clinician_client):
    response = clinician_client.get(PAGE)
    assert response.status_code == 200
    assert response.context.get("recall") is None
    assert "lot-recall-form" in response.text


# --- Queries ---------------------------------------------------------------------------------------------------


def _queries(client, url: str, lot: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, {"lot": lot})
    assert response.status_code == 200
    if url == CSV:
        b"".join(response.streaming_content)
    return len(captured)


@pytest.mark.usefixtures("warm_worker")
@pytest.mark.parametrize("url", [PAGE, CSV])
def test_the_queries_are_the_same_for_one_result_or_many(clinician_client, clinician, url):
    injected(PatientFactory(), clinician, "Q-1", 2)
    one = _queries(clinician_client, url, "Q-1")
    for _ in range(8):
        patient = PatientFactory()
        course = CourseFactory(patient=patient, created_by=clinician)
        injected(patient, clinician, "Q-1", 3, course=course, number=1)
        injected(patient, clinician, "q-1", 2, course=course, number=2)
        injected(patient, clinician, "Q-1", 1, course=course, number=3, signed=False)
    many = _queries(clinician_client, url, "Q-1")
    assert one == many, f"{one} queries for one patient, {many} for nine: something is read once per row"
    # The signed-in request's own (session, user, device, roles), the recall's two (sessions, drafts), the lots
    # starting alike on the page, and the one insert of the disclosures.
    assert many == (8 if url == PAGE else 7)


def _plan(queryset) -> str:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        return queryset.explain()


@pytest.mark.django_db
def test_the_searches_are_served_by_the_lot_index():
    """Whatever the table's size (seqscan off stands in for a large one): the exact lot, its drafts and the lots
    starting alike are each found through session_lot_number, so the queries keep the index's expression."""
    search = lots.LotSearch("dx-1", date_from=date(2026, 1, 1))
    assert "session_lot_number" in _plan(lots.injections_from_lot(search))
    assert "session_lot_number" in _plan(lots.sessions_from_lot(search).filter(signed_at__isnull=True))
    assert "session_lot_number" in _plan(lots.lots_alike(search))
