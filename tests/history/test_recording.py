"""Every write to a tracked table is recorded by the database, whoever or whatever makes it."""

from decimal import Decimal

import pghistory
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.urls import reverse

from assessments.models import Assessment, PainArea
from patients.models import Condition, IntakeCondition, Medication, Patient
from scheduling.models import Appointment
from tests.factories import AssessmentFactory, SessionFactory
from tests.history.helpers import context_of, events_of, patient_form_data
from tests.scheduling.factories import AppointmentFactory
from treatments import services as treatment_services
from treatments.models import InjectionSession


def test_a_web_edit_is_recorded_with_the_user_and_the_page(front_desk_client, front_desk, other_patient):
    url = reverse("patients:edit", kwargs={"pk": other_patient.pk})

    response = front_desk_client.post(url, patient_form_data(other_patient, town="Harrogate"))

    assert response.status_code == 302
    [update] = events_of(other_patient, "update")
    assert update.town == "Harrogate"
    assert context_of(update) == {"user": front_desk.pk, "url": url}


def test_queryset_update_of_appointments_is_recorded_row_by_row(db):
    appointments = AppointmentFactory.create_batch(3)

    Appointment.objects.filter(pk__in=[a.pk for a in appointments]).update(notes="Bring the referral letter")

    for appointment in appointments:
        [update] = events_of(appointment, "update")
        assert update.notes == "Bring the referral letter"
        assert context_of(update) is None  # no request or task: nobody to name


def test_queryset_update_of_patients_is_recorded(patient, other_patient):
    Patient.objects.filter(pk__in=[patient.pk, other_patient.pk]).update(gp_practice="Beech House Surgery")

    assert [e.gp_practice for e in events_of(patient, "update")] == ["Beech House Surgery"]
    assert [e.gp_practice for e in events_of(other_patient, "update")] == ["Beech House Surgery"]


def test_raw_sql_is_recorded_without_a_user(patient):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE patients_patient SET town = %s WHERE id = %s", ["Whitby", patient.pk])

    [update] = events_of(patient, "update")
    assert update.town == "Whitby"
    assert update.pgh_context_id is None


def test_raw_sql_inside_an_application_context_carries_it(patient, clinician):
    with pghistory.context(user=clinician.pk, url="/somewhere/"), connection.cursor() as cursor:
        cursor.execute("UPDATE patients_patient SET town = %s WHERE id = %s", ["Whitby", patient.pk])

    [update] = events_of(patient, "update")
    assert context_of(update) == {"user": clinician.pk, "url": "/somewhere/"}


def test_bulk_create_is_recorded(patient):
    medications = Medication.objects.bulk_create(
        [
            Medication(intake=patient.intake, drug="Paracetamol", dose="1 g", doses_per_week=Decimal("14")),
            Medication(intake=patient.intake, drug="Naproxen", dose="250 mg", doses_per_week=Decimal("7")),
        ]
    )

    assert [events_of(m, "insert")[0].drug for m in medications] == ["Paracetamol", "Naproxen"]


def test_deletes_are_recorded_with_the_deleted_values_and_the_history_stays(patient):
    medication = Medication.objects.create(intake=patient.intake, drug="Codeine", dose="30 mg", doses_per_week=7)
    pk = medication.pk

    medication.delete()

    assert not Medication.objects.filter(pk=pk).exists()
    events = Medication.pgh_event_model.objects.filter(pgh_obj_id=pk).order_by("pgh_id")
    assert [(e.pgh_label, e.drug) for e in events] == [("insert", "Codeine"), ("delete", "Codeine")]


def test_a_cascade_delete_is_recorded_for_every_child_row(db):
    assessment = AssessmentFactory()
    area = PainArea.objects.create(assessment=assessment, region="thigh_l", intensity=6)
    assessment_events = Assessment.pgh_event_model.objects.filter(pgh_obj_id=assessment.pk)

    assessment.delete()

    assert [e.pgh_label for e in events_of(area)] == ["insert", "delete"]
    assert [e.pgh_label for e in assessment_events.order_by("pgh_id")] == ["insert", "delete"]


def test_conditions_ticked_and_unticked_on_the_intake_are_recorded(patient):
    migraine, back_pain = Condition.objects.order_by("id")[:2]
    patient.intake.conditions.set([migraine, back_pain])

    patient.intake.conditions.set([back_pain])

    events = IntakeCondition.pgh_event_model.objects.filter(intake_id=patient.intake.pk).order_by("pgh_id")
    assert [(e.pgh_label, e.condition_id) for e in events] == [
        ("insert", migraine.pk),
        ("insert", back_pain.pk),
        ("delete", migraine.pk),
    ]


def test_history_tables_are_append_only(patient):
    Patient.objects.filter(pk=patient.pk).update(town="Whitby")
    for statement in ("UPDATE patients_patientevent SET town = 'Nowhere'", "DELETE FROM patients_patientevent"):
        with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
            connection.cursor().execute(statement)
    assert [e.town for e in events_of(patient, "update")] == ["Whitby"]


def test_history_rows_do_not_inherit_the_tracked_tables_constraints(patient, other_patient):
    # A second row with the same clinic number, a blank name, an out-of-range birth date: each a
    # constraint on patients_patient, none on its history, which records the rows as they were.
    event_model = Patient.pgh_event_model
    event = events_of(patient)[0]
    for changes in ({"clinic_number": other_patient.clinic_number}, {"given_name": ""}):
        copy = event_model(**{**_fields_of(event), **changes, "pgh_label": "insert", "pgh_obj_id": patient.pk})
        copy.save()
    assert event_model.objects.filter(pgh_obj_id=patient.pk).count() == 3


def _fields_of(event) -> dict:
    return {f.attname: getattr(event, f.attname) for f in event._meta.concrete_fields if f.attname != "pgh_id"}


def test_signing_is_recorded_and_a_signed_note_still_refuses_changes(clinician):
    draft = SessionFactory(sites=1, clinician=clinician)

    with pghistory.context(user=clinician.pk, url="/sessions/sign/"):
        signed = treatment_services.session_sign(session=draft, by=clinician)

    signing = events_of(signed, "update")[-1]
    assert signing.signed_by_id == clinician.pk and signing.signed_at is not None
    assert context_of(signing)["user"] == clinician.pk
    recorded = len(events_of(signed))
    with pytest.raises(IntegrityError, match="signed"), transaction.atomic():
        InjectionSession.objects.filter(pk=signed.pk).update(notes="quietly edited")
    assert len(events_of(signed)) == recorded  # the refused change left no history either


def test_an_update_that_changes_nothing_is_not_recorded(patient):
    Patient.objects.filter(pk=patient.pk).update(town=patient.town)

    assert events_of(patient, "update") == []
