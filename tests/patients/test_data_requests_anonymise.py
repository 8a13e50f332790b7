"""Erasure: refused while the signed record must be kept, anonymisation after it, in the live rows, their change
history, the portal account and the audit trail; and the command that carries it out."""

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from assessments.models import Assessment, AssessmentEvent
from audit.models import Action, AuditEvent
from patients.anonymise import PLACEHOLDER, patient_anonymise
from patients.models import DataRequestStatus, Intake, KnownName, Patient, PatientEvent
from patients.retention import add_years, retained_until, retention_of
from portal.models import CheckIn
from scheduling.models import Appointment, AppointmentEvent
from tests.patients.data_request_helpers import SECRET, erasure_request, seen_long_ago, years_ago
from treatments.models import AdverseEvent, InjectionSession, InjectionSessionEvent, SessionAddendum
from treatments.services import session_signature_intact

pytestmark = pytest.mark.django_db


def decide_url(data_request) -> str:
    return reverse("patients:data_request_decide", args=[data_request.patient_id, data_request.pk])


# --- Retention ----------------------------------------------------------------------------------------------------


def test_an_adult_is_kept_the_clinics_years_after_the_last_visit(patient, settings, django_assert_num_queries):
    seen_long_ago(patient, years=3)
    last_visit = timezone.localdate(years_ago(3))
    with django_assert_num_queries(1):
        until = retained_until(patient)
    assert until == add_years(last_visit, 8)
    settings.RECORD_RETENTION_YEARS = 10
    assert retained_until(patient) == add_years(last_visit, 10)


def test_a_draft_session_or_a_cancelled_appointment_is_not_a_visit(patient):
    from scheduling.models import AppointmentStatus
    from tests.factories import CourseFactory, SessionFactory
    from tests.scheduling.factories import AppointmentFactory

    SessionFactory(course=CourseFactory(patient=patient), sites=1)
    AppointmentFactory(patient=patient, starts_at=years_ago(1), status=AppointmentStatus.CANCELLED)
    assert retention_of(patient).last_visit is None
    assert retained_until(patient) is None


def test_a_child_is_kept_until_their_25th_birthday_or_26th_if_17(patient):
    seen_long_ago(patient, years=1)
    last_visit = timezone.localdate(years_ago(1))
    Patient.objects.filter(pk=patient.pk).update(date_of_birth=last_visit.replace(year=last_visit.year - 10))
    patient.refresh_from_db()
    assert retained_until(patient) == add_years(patient.date_of_birth, 25)
    born_17_years_before = add_years(last_visit, -17) - timedelta(days=1)
    Patient.objects.filter(pk=patient.pk).update(date_of_birth=born_17_years_before)
    patient.refresh_from_db()
    retention = retention_of(patient)
    assert retention.until == add_years(born_17_years_before, 26)
    assert "26th birthday" in retention.reason


# --- Refused before the retention date ---------------------------------------------------------------------------


def test_erasure_before_the_retention_date_is_refused_with_the_reason_and_kept_as_refused(
    manager_client, manager, patient
):
    seen_long_ago(patient, years=3)
    last_visit = timezone.localdate(years_ago(3))
    data_request = erasure_request(patient, manager)

    response = manager_client.post(decide_url(data_request), {"decision": "carry_out"})

    until = add_years(last_visit, 8)
    reason = (
        f"Signed clinical records must be kept until {until:%-d %B %Y} "
        f"(8 years after the last visit on {last_visit:%-d %B %Y})."
    )
    assert response.status_code == 409
    assert reason in response.content.decode()
    data_request.refresh_from_db()
    assert (data_request.status, data_request.outcome) == (DataRequestStatus.REFUSED, reason)
    patient.refresh_from_db()
    assert (patient.family_name, patient.anonymised_at) == ("Day", None)
    assert Intake.objects.get(patient=patient).notes == SECRET
    assert not AuditEvent.objects.filter(action=Action.PATIENT_ANONYMISED).exists()


def test_a_decided_request_cannot_be_decided_again(manager_client, manager, patient):
    seen_long_ago(patient, years=3)
    data_request = erasure_request(patient, manager)
    manager_client.post(decide_url(data_request), {"decision": "carry_out"})

    again = manager_client.post(decide_url(data_request), {"decision": "carry_out"})

    assert again.status_code == 409
    assert "already decided" in again.content.decode()


# --- Anonymised after it -----------------------------------------------------------------------------------------


@pytest.fixture
def erased(manager_client, manager, patient):
    """The patient, seen 10 years ago, erased through the outcome form."""
    seen_long_ago(patient)
    data_request = erasure_request(patient, manager)
    response = manager_client.post(decide_url(data_request), {"decision": "carry_out"})
    assert response.status_code == 302
    data_request.refresh_from_db()
    patient.refresh_from_db()
    return patient, data_request


def test_names_contacts_and_birthday_are_gone_and_the_year_kept(erased):
    patient, data_request = erased
    assert (patient.given_name, patient.family_name, patient.preferred_name) == ("Anonymised", "Patient", "")
    assert patient.date_of_birth == date(1961, 1, 1)
    assert (patient.phone, patient.email, patient.address_line1, patient.town) == ("", "", "", "")
    assert patient.emergency_contact_name == ""
    assert patient.anonymised_at is not None
    assert data_request.status == DataRequestStatus.DONE
    assert data_request.notes == PLACEHOLDER


def test_free_text_is_replaced_everywhere_and_outcomes_kept(erased):
    patient, _ = erased
    session = InjectionSession.objects.get(course__patient=patient)
    assessment = Assessment.objects.get(patient=patient)
    assert Intake.objects.get(patient=patient).notes == PLACEHOLDER
    assert assessment.presenting_complaint == PLACEHOLDER
    assert (assessment.nrs_current, assessment.peg_activity) == (8, 8)
    assert session.notes == PLACEHOLDER
    assert (session.pre_nrs, session.post_nrs, session.lot_number) == (7, 3, "DX-2291")
    assert session.sites.get().volume_per_point_ml == pytest.approx(0.5)
    assert AdverseEvent.objects.get(session=session).note == PLACEHOLDER
    assert SessionAddendum.objects.get(session=session).text == PLACEHOLDER
    assert Appointment.objects.get(patient=patient).notes == PLACEHOLDER
    assert CheckIn.objects.get(patient=patient).new_problems == PLACEHOLDER
    assert CheckIn.objects.get(patient=patient).nrs_now == 6
    # The note's SHA-256 was taken again over what it now holds: shown as intact, not as altered.
    assert session_signature_intact(session)


def test_no_history_row_keeps_the_names_or_the_free_text(erased):
    patient, _ = erased
    events = PatientEvent.objects.filter(pgh_obj_id=patient.pk)
    assert events.count() >= 2
    assert set(events.values_list("family_name", "given_name", "email", "town")) == {("Patient", "Anonymised", "", "")}
    assert not InjectionSessionEvent.objects.filter(notes=SECRET).exists()
    assert not AssessmentEvent.objects.filter(presenting_complaint=SECRET).exists()
    assert not AppointmentEvent.objects.filter(notes=SECRET).exists()
    with connection.cursor() as cursor:  # every column of every table, history included
        cursor.execute("SELECT count(*) FROM patients_intakeevent WHERE notes = %s", [SECRET])
        assert cursor.fetchone()[0] == 0
    assert not KnownName.objects.filter(name="Day").exists()


def test_the_portal_account_is_disabled_and_cleared(erased, patient_user):
    user = User.objects.get(pk=patient_user.pk)
    assert not user.is_active
    assert (user.email, user.first_name, user.last_name) == ("", "", "")
    assert not user.has_usable_password()
    assert user.username != "charlie"


def test_the_audit_trail_records_it_without_the_erased_data(erased):
    patient, _ = erased
    event = AuditEvent.objects.get(action=Action.PATIENT_ANONYMISED)
    assert event.patient_id == patient.pk
    assert "Day" not in str(event.detail) and SECRET not in str(event.detail)
    assert event.detail["history_rows"] > 0
    call_command("audit_verify")  # the chain is whole


def test_anonymising_again_changes_nothing(erased):
    patient, _ = erased
    events_before = PatientEvent.objects.count()
    again = patient_anonymise(patient=patient, by=None)
    assert again.already
    assert PatientEvent.objects.count() == events_before
    assert AuditEvent.objects.filter(action=Action.PATIENT_ANONYMISED).count() == 1


def test_signed_notes_still_refuse_any_other_change(erased):
    from django.db import IntegrityError, transaction

    patient, _ = erased
    session = InjectionSession.objects.get(course__patient=patient)
    with pytest.raises(IntegrityError), transaction.atomic():
        InjectionSession.objects.filter(pk=session.pk).update(notes=PLACEHOLDER, pre_nrs=1)
    with pytest.raises(IntegrityError), transaction.atomic():  # not anonymising: the trigger refuses it
        InjectionSession.objects.filter(pk=session.pk).update(notes="Something else")


def test_while_anonymising_only_the_placeholder_gets_through(patient):
    from django.db import IntegrityError, transaction

    seen_long_ago(patient)
    session = InjectionSession.objects.get(course__patient=patient)
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('pit.anonymising', 'on', true)")
        InjectionSession.objects.filter(pk=session.pk).update(notes="Rewritten history")


# --- The command -------------------------------------------------------------------------------------------------


def test_the_command_anonymises_and_says_so(patient, manager, capsys):
    seen_long_ago(patient)
    data_request = erasure_request(patient, manager)

    call_command("anonymise_patient", str(patient.pk), "--request", str(data_request.pk), "--by", "mona")

    assert f"Patient {patient.pk} anonymised." in capsys.readouterr().out
    patient.refresh_from_db()
    assert patient.family_name == "Patient"
    data_request.refresh_from_db()
    assert (data_request.status, data_request.decided_by) == (DataRequestStatus.DONE, manager)
    call_command("anonymise_patient", str(patient.pk), "--request", str(data_request.pk))
    assert "already anonymised" in capsys.readouterr().out


def test_the_command_refuses_before_the_retention_date_with_the_reason(patient, manager):
    seen_long_ago(patient, years=2)
    data_request = erasure_request(patient, manager)

    with pytest.raises(CommandError, match="must be kept until"):
        call_command("anonymise_patient", str(patient.pk), "--request", str(data_request.pk))

    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.REFUSED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--request", "1"], "whole numbers"),
        (["{patient}", "--request", "999999"], "has no request"),
        (["{other}", "--request", "{request}"], "has no request"),
        (["{patient}", "--request", "{request}", "--by", "nobody"], "may decide"),
    ],
)
def test_the_command_explains_bad_arguments(patient, other_patient, manager, args, message):
    data_request = erasure_request(patient, manager)
    names = {"patient": patient.pk, "other": other_patient.pk, "request": data_request.pk}
    with pytest.raises(CommandError, match=message):
        call_command("anonymise_patient", *[arg.format(**names) for arg in args])


def test_copies_of_the_record_expire_and_import_report_lines_lose_the_name(manager, patient, patient_user):
    from imports.models import ImportRow
    from imports.services import import_upload
    from portal.models import CopyStatus, RecordCopy
    from portal.record_copy.services import copies_sweep
    from tests.portal.record_copy_helpers import ready_copy

    seen_long_ago(patient)
    copy = ready_copy(patient)
    csv_import = import_upload(by=manager, kind="patients", source_system="", file_name="p.csv",
                               content=b"First Name,Last Name\nCharlie,Day\n", encoding="utf-8")  # fmt: skip
    line = ImportRow.objects.create(csv_import=csv_import, number=2, label=patient.full_name, patient=patient)

    patient_anonymise(patient=patient, by=manager)
    copies_sweep()

    copy.refresh_from_db()
    assert (copy.status, copy.file_name) == (CopyStatus.EXPIRED, "")
    assert RecordCopy.objects.filter(patient=patient, status=CopyStatus.READY).count() == 0
    line.refresh_from_db()
    assert line.label == PLACEHOLDER
