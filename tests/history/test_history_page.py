"""The History tab: who may open it, what it shows, and what it costs."""

from decimal import Decimal

import pgtrigger
import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.urls import reverse

from assessments.models import PainArea
from audit.models import Action, AuditEvent
from patients.models import Medication, Patient
from patients.timeline import EVENTS_PER_PAGE, KINDS, patient_scopes
from pit_portal.history import record_baseline
from scheduling.models import Appointment
from tests.factories import AssessmentFactory, CourseFactory, SessionFactory, signed_session
from tests.history.helpers import patient_form_data
from tests.scheduling.factories import AppointmentFactory
from treatments import services as treatment_services
from treatments.models import InjectionSite

QUERY_BUDGET = 12


def history_url(patient: Patient) -> str:
    return reverse("patients:history", kwargs={"pk": patient.pk})


@pytest.mark.parametrize("client_fixture", ["clinician_client", "manager_client"])
def test_clinicians_and_managers_open_the_history(request, client_fixture, patient):
    response = request.getfixturevalue(client_fixture).get(history_url(patient))

    assert response.status_code == 200
    assert b'id="history"' in response.content


@pytest.mark.parametrize("client_fixture", ["front_desk_client", "patient_client", "outsider_client"])
def test_others_are_refused_even_the_patient_themselves(request, client_fixture, patient):
    response = request.getfixturevalue(client_fixture).get(history_url(patient))

    assert response.status_code in (403, 404)
    assert not AuditEvent.objects.filter(action=Action.HISTORY_VIEWED).exists()


def test_a_missing_patient_answers_404(clinician_client, patient):
    url = reverse("patients:history", kwargs={"pk": patient.pk + 1000})

    assert clinician_client.get(url).status_code == 404


def test_the_patient_page_links_to_the_history_for_those_who_may_see_it(clinician_client, front_desk_client, patient):
    detail = reverse("patients:detail", kwargs={"pk": patient.pk})

    assert history_url(patient).encode() in clinician_client.get(detail).content
    assert history_url(patient).encode() not in front_desk_client.get(detail).content


def test_an_edit_shows_who_changed_which_field_from_what_to_what(
    front_desk_client, front_desk, clinician_client, patient
):
    edit = reverse("patients:edit", kwargs={"pk": patient.pk})
    front_desk_client.post(edit, patient_form_data(patient, town="Harrogate", postcode="HG1 2AB"))

    response = clinician_client.get(history_url(patient))

    [entry] = [e for e in response.context["page"].object_list if e.action == "update"]
    assert (entry.who, entry.via, entry.record) == (front_desk.username, edit, f"Patient #{patient.pk}")
    assert {(c.label, c.old, c.new) for c in entry.changes} == {
        ("Town", patient.town or "—", "Harrogate"),
        ("Postcode", patient.postcode or "—", "HG1 2AB"),
    }
    assert "Harrogate" in response.content.decode()


def test_values_are_shown_escaped(clinician_client, patient):
    Patient.objects.filter(pk=patient.pk).update(town="<script>alert(1)</script>")

    content = clinician_client.get(history_url(patient)).content.decode()

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "<script>alert(1)" not in content


def test_changes_made_outside_the_portal_are_shown_as_the_database(clinician_client, patient):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE patients_patient SET town = 'Whitby' WHERE id = %s", [patient.pk])

    entries = clinician_client.get(history_url(patient)).context["page"].object_list

    [entry] = [e for e in entries if e.action == "update"]
    assert (entry.who, entry.via) == ("database", "")


def test_rows_that_belong_to_the_patient_appear_and_other_patients_rows_do_not(
    clinician_client, patient, other_patient
):
    assessment = AssessmentFactory(patient=patient)
    area = PainArea.objects.create(assessment=assessment, region="thigh_l", intensity=6)
    session = SessionFactory(course=CourseFactory(patient=patient), sites=1)
    site = InjectionSite.objects.get(session=session)
    AssessmentFactory(patient=other_patient)
    SessionFactory(course=CourseFactory(patient=other_patient), sites=1)

    entries = clinician_client.get(history_url(patient)).context["page"].object_list

    records = {e.record for e in entries}
    assert {f"Pain area #{area.pk}", f"Injection site #{site.pk}", f"Assessment #{assessment.pk}"} <= records
    assert {f"Injection session #{session.pk}", f"Intake #{patient.intake.pk}"} <= records
    other_rows = {f"Patient #{other_patient.pk}", f"Intake #{other_patient.intake.pk}"}
    assert not records & other_rows


def test_a_deleted_row_keeps_its_history_and_shows_its_last_values(clinician_client, patient):
    medication = Medication.objects.create(intake=patient.intake, drug="Codeine", dose="30 mg", doses_per_week=7)
    pk = medication.pk
    medication.delete()

    entries = clinician_client.get(history_url(patient)).context["page"].object_list

    deleted = next(e for e in entries if e.action == "delete")
    assert deleted.record == f"Medication #{pk}"
    assert ("Drug", "Codeine") in deleted.values


def test_newest_first_and_paged(clinician_client, patient):
    medication = Medication.objects.create(intake=patient.intake, drug="Codeine", dose="1 mg", doses_per_week=7)
    doses = [f"{milligrams} mg" for milligrams in range(2, EVENTS_PER_PAGE + 6)]
    for dose in doses:
        Medication.objects.filter(pk=medication.pk).update(dose=dose)

    first = clinician_client.get(history_url(patient)).context["page"]
    second = clinician_client.get(history_url(patient) + "?page=2").context["page"]

    assert len(first.object_list) == EVENTS_PER_PAGE
    assert len(second.object_list) == first.paginator.count - EVENTS_PER_PAGE > 0
    entries = [*first.object_list, *second.object_list]
    assert [e.changes[0].new for e in entries if e.action == "update"] == doses[::-1]
    assert clinician_client.get(history_url(patient) + "?page=nonsense").status_code == 200


def test_references_are_named_not_numbered(clinician_client, clinician, patient):
    appointment = AppointmentFactory(patient=patient)
    Appointment.objects.filter(pk=appointment.pk).update(clinician=clinician)

    entries = clinician_client.get(history_url(patient)).context["page"].object_list

    [change] = next(e for e in entries if e.action == "update").changes
    assert (change.label, change.old, change.new) == ("Clinician", appointment.clinician.username, "alice")


def test_opening_the_history_is_audited(clinician_client, clinician, patient):
    clinician_client.get(history_url(patient))

    [event] = AuditEvent.objects.filter(action=Action.HISTORY_VIEWED)
    assert (event.actor, event.patient, event.detail) == (clinician, patient, {"page": 1})


def _make_history(patient: Patient, size: int) -> None:
    """`size` rounds of changes spread over many kinds of row (and references the page names)."""
    appointment = AppointmentFactory(patient=patient)
    assessment = AssessmentFactory(patient=patient)
    session = SessionFactory(course=CourseFactory(patient=patient), sites=2)
    for round_number in range(size):
        medication = Medication.objects.create(
            intake=patient.intake, drug=f"Drug {round_number}", dose="1 mg", doses_per_week=Decimal(1)
        )
        Medication.objects.filter(pk=medication.pk).update(dose="2 mg")
        Appointment.objects.filter(pk=appointment.pk).update(notes=f"Note {round_number}")
        PainArea.objects.create(assessment=assessment, region=f"region_{round_number}", intensity=5)
        InjectionSite.objects.filter(session=session).update(points=round_number % 9 + 1)


def _queries_for_page(client, patient, django_assert_max_num_queries) -> int:
    with django_assert_max_num_queries(QUERY_BUDGET) as queries:
        response = client.get(history_url(patient))
    assert response.status_code == 200
    return len(queries)


def test_the_page_runs_a_fixed_number_of_queries(
    clinician_client, patient, other_patient, django_assert_max_num_queries
):
    _make_history(patient, 2)
    _make_history(other_patient, 15)

    few = _queries_for_page(clinician_client, patient, django_assert_max_num_queries)
    many = _queries_for_page(clinician_client, other_patient, django_assert_max_num_queries)

    assert few == many


def test_a_row_from_before_tracking_shows_its_first_change_against_the_baseline(clinician_client, patient):
    # As if written before the history migration: no insert event, then the migration's baseline snapshot.
    with pgtrigger.ignore("patients.Medication:insert_insert"):
        medication = Medication.objects.create(intake=patient.intake, drug="Codeine", dose="30 mg", doses_per_week=7)
    with connection.schema_editor() as editor:
        record_baseline("patients.MedicationEvent").code(django_apps, editor)
    Medication.objects.filter(pk=medication.pk).update(dose="60 mg")

    entries = clinician_client.get(history_url(patient)).context["page"].object_list

    mine = [e for e in entries if e.record == f"Medication #{medication.pk}"]
    assert [(e.action, [(c.label, c.old, c.new) for c in e.changes]) for e in mine] == [
        ("update", [("Dose", "30 mg", "60 mg")])
    ]  # the baseline itself is not listed


def test_an_update_with_no_earlier_record_says_so(clinician_client, patient):
    with pgtrigger.ignore("patients.Medication:insert_insert"):
        medication = Medication.objects.create(intake=patient.intake, drug="Codeine", dose="30 mg", doses_per_week=7)
    Medication.objects.filter(pk=medication.pk).update(dose="60 mg")

    response = clinician_client.get(history_url(patient))

    [entry] = [e for e in response.context["page"].object_list if e.record == f"Medication #{medication.pk}"]
    assert entry.earlier_unknown and ("Dose", "60 mg") in entry.values
    assert "Earlier values not recorded" in response.content.decode()


# --- what each role reads in the history ------------------------------------------------------------

CLINICAL_RECORDS = ("Assessment #", "Pain area #", "Treatment course #", "Injection session #", "Injection site #")


@pytest.fixture
def clinical_history(patient, clinician):
    """A patient with an assessment, a course and a signed session with an addendum, each with its history."""
    assessment = AssessmentFactory(patient=patient)
    PainArea.objects.create(assessment=assessment, region="thigh_l", intensity=6)
    session = signed_session(course=CourseFactory(patient=patient), clinician=clinician)
    treatment_services.addendum_add(session=session, text="Bruise at the lateral thigh settled.", by=clinician)
    AppointmentFactory(patient=patient)
    return session


def all_entries(client, patient) -> list:
    response = client.get(history_url(patient))
    assert response.status_code == 200
    return list(response.context["page"].object_list), response.content.decode()


def test_a_clinician_reads_the_clinical_records_history(clinician_client, patient, clinical_history):
    entries, content = all_entries(clinician_client, patient)
    records = {entry.record for entry in entries}
    assert all(any(record.startswith(kind) for record in records) for kind in CLINICAL_RECORDS)
    assert clinical_history.lot_number in content
    assert "Bruise at the lateral thigh" in content


def test_a_manager_reads_in_the_history_only_what_their_pages_show(manager_client, patient, clinical_history):
    """Managers are refused session, assessment, course and addendum pages, so their history holds none of them:
    no note, addendum text or lot number reaches them through it."""
    entries, content = all_entries(manager_client, patient)
    records = {entry.record for entry in entries}
    assert not [record for record in records if record.startswith((*CLINICAL_RECORDS, "Session addendum #"))]
    assert {"Patient", "Appointment"} <= {record.split(" #")[0] for record in records}
    assert clinical_history.lot_number not in content
    assert "Bruise at the lateral thigh" not in content


def test_every_kind_of_record_in_the_history_names_what_reading_it_needs(patient):
    assert set(patient_scopes(patient.pk)) == set(KINDS)
