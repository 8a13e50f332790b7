"""`manage.py seed_scale`: the synthetic clinic is shaped as asked, keeps every rule of the database, and opens
in the real pages."""

import itertools
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from io import StringIO

import phonenumbers
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, OuterRef
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from audit.services import verify_chain
from documents.models import Document, DocumentStatus
from outcomes.models import EnteredVia, MeasureRequest, Moment, PatientReport
from patients.models import ConsentText, KnownName, Patient
from patients.search import patient_search
from pit_portal.scale.diary import UNIT_MINUTES, WORKING_BLOCKS, WORKING_MINUTES_PER_DAY, Clock, Diary
from pit_portal.scale.generate import SPECS, Clinic, Moments, Reference
from pit_portal.scale.loader import Loader
from scheduling.models import ALL_DAYS, Appointment, AppointmentStatus, DiaryVersion
from treatments.models import CourseStatus, InjectionSession, InjectionSite, TreatmentCourse
from treatments.services import session_signature_intact

PATIENTS = 30


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_scale", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def seeded(db) -> str:
    return seed("--patients", str(PATIENTS))


def test_the_data_set_has_the_shape_asked_for(seeded):
    assert Patient.objects.count() == PATIENTS
    consent_text = ConsentText.objects.current()
    assert Patient.objects.filter(intake__isnull=False, consents__consent_text=consent_text).distinct().count() == (
        PATIENTS
    )
    sessions, sites = InjectionSession.objects.count(), InjectionSite.objects.count()
    courses = TreatmentCourse.objects.count()
    # About 2 courses of 6 sessions of 4 sites each: fewer for the patients still part way through.
    assert 1.3 <= courses / PATIENTS <= 2.5
    assert 4.5 <= sessions / courses <= 6.5
    assert 3.5 <= sites / sessions <= 4.5
    assert 10 <= Appointment.objects.count() / PATIENTS <= 18
    statuses = set(Appointment.objects.values_list("status", flat=True))
    assert {AppointmentStatus.COMPLETED, AppointmentStatus.BOOKED, AppointmentStatus.CANCELLED} <= statuses
    assert Appointment.objects.filter(starts_at__gt=timezone.now(), status=AppointmentStatus.BOOKED).exists()
    assert User.objects.filter(groups__name=Role.CLINICIAN, username__startswith="scale-clinician-").count() == 10
    assert Patient.objects.filter(user__groups__name=Role.PATIENT).exists()
    assert "patients_patient" in seeded and "total" in seeded


def test_every_signed_session_carries_an_intact_signature_and_its_two_documents(seeded):
    signed = InjectionSession.objects.filter(signed_at__isnull=False).select_related("course")
    assert signed.count() > 100
    assert all(session_signature_intact(session) for session in signed)
    current_ready = Document.objects.filter(status=DocumentStatus.READY, superseded_at__isnull=True)
    per_session = current_ready.values("session").annotate(kinds=Count("kind", distinct=True))
    assert {row["kinds"] for row in per_session} == {2}
    assert per_session.count() == signed.count()
    assert not Document.objects.filter(session__signed_at__isnull=True).exists()


def test_no_row_points_at_a_missing_row(seeded):
    """Foreign keys are not checked while seeding (triggers are off): check every one afterwards."""
    for model, _ in SPECS:
        for field in model._meta.concrete_fields:
            if not field.is_relation:
                continue
            target = field.related_model._default_manager.filter(pk=OuterRef(field.attname))
            orphans = model._base_manager.filter(**{f"{field.attname}__isnull": False}).exclude(Exists(target))
            assert not orphans.exists(), f"{model._meta.db_table}.{field.attname}"


def test_patients_are_asked_between_visits_as_the_clinic_schedules_it(seeded):
    """Before each session (an appointment's questions), and at the end of every closed course and 91 and 182 days
    after it; about 60% of what is sent answered, some requests cancelled or never sent, none answered early."""
    before = MeasureRequest.objects.filter(moment=Moment.BEFORE_SESSION)
    assert before.count() == InjectionSession.objects.count()  # one per session, for its appointment
    assert not before.filter(appointment__session__isnull=True).exists()
    reported = PatientReport.objects.filter(request__moment=Moment.BEFORE_SESSION).count()
    assert 0.25 <= reported / InjectionSession.objects.count() <= 0.55  # about 40%
    closed = TreatmentCourse.objects.exclude(status=CourseStatus.ACTIVE)
    after = MeasureRequest.objects.exclude(moment=Moment.BEFORE_SESSION)
    assert sorted(after.values_list("course_id", "moment", "days_after_course")) == sorted(
        (pk, moment, days) for pk in closed.values_list("pk", flat=True)
        for moment, days in ((Moment.COURSE_END, None), (Moment.AFTER_COURSE, 91), (Moment.AFTER_COURSE, 182))
    )  # fmt: skip
    sent = after.filter(sent_at__isnull=False, cancelled_at__isnull=True)
    assert 0.4 <= sent.filter(answered_at__isnull=False).count() / sent.count() <= 0.8  # about 60%
    assert after.filter(cancelled_at__isnull=False).exclude(cancel_reason="").exists()
    assert after.filter(sent_at__isnull=True, due_at__gt=timezone.now()).exists()  # not due yet
    assert MeasureRequest.objects.exclude(not_sent_reason="").filter(patient__email="").exists()
    assert not MeasureRequest.objects.exclude(not_sent_reason="").exclude(patient__email="").exists()


def test_every_answer_is_its_requests_and_names_who_entered_it(seeded):
    answered = MeasureRequest.objects.filter(answered_at__isnull=False).select_related("report", "patient")
    assert answered.count() == PatientReport.objects.count()
    now = timezone.now()
    for request in answered:
        report = request.report
        assert (report.patient_id, report.course_id) == (request.patient_id, request.course_id)
        assert report.submitted_at == request.answered_at
        assert request.sent_at <= report.submitted_at < min(request.expires_at, now)
        portal = request.patient.user_id is not None
        assert report.entered_via == (EnteredVia.PORTAL if portal else EnteredVia.LINK)
        assert report.entered_by_id == request.patient.user_id
        assert report.nrs_now is not None and report.peg_score is not None
        assert (report.pgic is not None) == request.ask_pgic
        assert (report.further_treatment is not None) == request.ask_further_treatment


def test_the_seed_writes_no_history_and_leaves_the_triggers_on(seeded):
    assert not Patient.pgh_event_model.objects.exists()
    assert not InjectionSession.pgh_event_model.objects.exists()
    # The signed-note triggers work again for whatever runs after the seed.
    with pytest.raises(IntegrityError), transaction.atomic():
        InjectionSession.objects.filter(signed_at__isnull=False).update(notes="changed")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('session_replication_role')")
        assert cursor.fetchone()[0] == "origin"


def test_the_seed_gives_every_calendar_a_new_cache_key(seeded):
    """Its appointments go in with the triggers off, so no day's version moved: the seed moves the version of
    every day instead, which every calendar's cache key holds."""
    versions = dict(DiaryVersion.objects.values_list("day", "version"))
    appointments = Appointment.objects.count()
    seed("--patients", "5", "--append")
    assert Appointment.objects.count() > appointments
    moved = {day for day, version in DiaryVersion.objects.values_list("day", "version") if versions.get(day) != version}
    assert moved == {ALL_DAYS}


def test_the_seed_adds_the_names_it_loaded_to_the_search_s_vocabulary(seeded):
    """The patients go in with the triggers off, so the trigger that keeps the known names did not see them."""
    on_file = set(Patient.objects.values_list("family_name", flat=True))
    on_file |= set(Patient.objects.values_list("given_name", flat=True))
    on_file |= set(Patient.objects.exclude(preferred_name="").values_list("preferred_name", flat=True))
    assert set(KnownName.objects.values_list("name", flat=True)) == on_file


def test_the_audit_trail_stays_chained(seeded):
    """Creating the seeded staff records role changes; those events must be chained like any other."""
    check = verify_chain()
    assert check.rows > 0
    assert check.intact, check.problem


def test_contact_details_are_valid_and_invented(seeded):
    for phone, email in Patient.objects.values_list("phone", "email"):
        assert phonenumbers.is_valid_number(phone)
        assert str(phone).startswith("+44")
        assert email == "" or email.endswith("@example.org")


def test_live_appointments_lie_within_working_hours_and_never_overlap(seeded):
    live = Appointment.objects.exclude(status=AppointmentStatus.CANCELLED).order_by("clinician", "starts_at")
    previous = None
    for appointment in live:
        starts, ends = timezone.localtime(appointment.starts_at), timezone.localtime(appointment.ends_at)
        assert starts.weekday() < 5
        assert any(
            block_start <= starts.time() and ends.time() <= block_end for block_start, block_end in WORKING_BLOCKS
        )
        if previous and previous.clinician_id == appointment.clinician_id:
            assert previous.ends_at <= appointment.starts_at
        previous = appointment


def test_a_second_run_is_refused_and_append_adds_more(seeded):
    with pytest.raises(CommandError, match="--append"):
        seed("--patients", "5")
    seed("--patients", "5", "--append")
    assert Patient.objects.count() == PATIENTS + 5
    assert Patient.objects.values("clinic_number").distinct().count() == PATIENTS + 5
    assert User.objects.filter(username__startswith="scale-clinician-").count() == 10


@pytest.mark.parametrize("value", ["0", "-3", "many", "2000000"])
def test_the_number_of_patients_is_checked(db, value):
    with pytest.raises(CommandError, match="--patients"):
        seed("--patients", value)
    assert not Patient.objects.exists()


def test_with_history_the_triggers_record_every_row_and_the_data_is_still_consistent(db):
    seed("--patients", "8", "--with-history")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred foreign keys, checked now
    assert Patient.pgh_event_model.objects.count() == 8
    signed = InjectionSession.objects.filter(signed_at__isnull=False).select_related("course")
    assert signed.exists()
    assert all(session_signature_intact(session) for session in signed)
    assert InjectionSession.pgh_event_model.objects.filter(pgh_label="update").count() == signed.count()


def test_without_the_right_to_skip_triggers_it_says_so_and_seeds_with_history(db):
    """Only a superuser may set session_replication_role: as any other user the seed keeps the triggers on."""
    role = f"seed_scale_{uuid.uuid4().hex[:10]}"  # roles are server-wide; this one is rolled back with the test
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOSUPERUSER")
        cursor.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        cursor.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cursor.execute(f"SET LOCAL ROLE {role}")
    errors = StringIO()
    try:
        call_command("seed_scale", "--patients", "3", stdout=StringIO(), stderr=errors)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert "superuser" in errors.getvalue()
    assert Patient.pgh_event_model.objects.count() == 3
    signed = InjectionSession.objects.filter(signed_at__isnull=False).select_related("course")
    assert all(session_signature_intact(session) for session in signed)


def _patient_with_a_course() -> Patient:
    return Patient.objects.filter(courses__sessions__signed_at__isnull=False).order_by("pk").first()


def test_seeded_records_open_in_the_clinical_pages(seeded, clinician_client):
    patient = _patient_with_a_course()
    course = patient.courses.first()
    session = course.sessions.first()
    for url in (
        reverse("patients:detail", args=[patient.pk]),
        reverse("treatments:course", args=[course.pk]),
        reverse("treatments:session", args=[session.pk]),
        reverse("outcomes:report"),
    ):
        response = clinician_client.get(url)
        assert response.status_code == 200, url
    assert patient.family_name in clinician_client.get(reverse("patients:detail", args=[patient.pk])).text


def test_the_calendars_show_seeded_appointments(seeded, front_desk_client):
    appointment = Appointment.objects.filter(status=AppointmentStatus.COMPLETED).select_related("patient").last()
    day = timezone.localdate(appointment.starts_at)
    response = front_desk_client.get(reverse("scheduling:day"), {"date": day.isoformat()})
    assert response.status_code == 200
    assert appointment.patient.family_name in response.text
    assert front_desk_client.get(reverse("scheduling:week"), {"date": day.isoformat()}).status_code == 200


def test_a_seeded_portal_user_sees_their_documents(seeded):
    patient = Patient.objects.filter(user__isnull=False, documents__isnull=False).distinct().first()
    client = Client()
    client.force_login(patient.user)
    response = client.get(reverse("portal:documents"))
    assert response.status_code == 200
    shown = response.context["documents"]
    assert shown
    assert {document.pk for document in shown} == set(
        patient.documents.filter(superseded_at__isnull=True).values_list("pk", flat=True)
    )


def _misspelt(name: str) -> str:
    middle = len(name) // 2
    return name[:middle] + name[middle + 1 :]


def test_search_finds_a_seeded_patient_by_a_misspelt_surname(seeded, clinician_client):
    patient = Patient.objects.filter(family_name__regex=r"^[A-Za-z]{7,}$").order_by("pk").first()
    query = _misspelt(patient.family_name)
    assert patient in patient_search(query)
    response = clinician_client.get(reverse("patients:list"), {"q": query})
    assert response.status_code == 200
    assert patient.clinic_number in response.text


# --- The parts, without the database -------------------------------------------------------------------------


def _reference() -> Reference:
    return Reference(
        conditions=((1, "low-back-pain"), (2, "osteoarthritis"), (3, "other")),
        nerves_by_region={region: tuple(range(10 * n, 10 * n + 8)) for n, region in enumerate(
            ("head_neck", "upper_limb", "trunk_back", "lower_limb"), start=1)},
        appointment_types={"new-patient-assessment": (1, 45), "pit-session": (2, 20), "review": (3, 15)},
        consent_text_id=1, patient_group_id=4, clinicians=(101, 102, 103), front_desk=(201,),
    )  # fmt: skip


def _generate(seed: int) -> dict[str, list[tuple]]:
    loader = Loader(SPECS)
    now = datetime(2026, 6, 10, 11, 0, tzinfo=UTC)
    today = date(2026, 6, 10)
    span = Moments(now, today, today - timedelta(days=730), today + timedelta(days=14))
    clinic = Clinic(loader, _reference(), Diary(3, random.Random(seed)), Clock("Europe/London"), span, seed)
    for number in range(20):
        clinic.patient(f"PIT-{number:06d}")
    return {table.name: list(table.pending) for table in loader.tables.values()}


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows():
    first, again, other = _generate(7), _generate(7), _generate(8)
    assert first == again
    assert first["patients_patient"] != other["patients_patient"]


def test_the_diary_fills_a_day_then_moves_on_to_the_next_working_day():
    diary = Diary(1, random.Random(3))
    friday = date(2026, 6, 12)
    per_day = WORKING_MINUTES_PER_DAY // UNIT_MINUTES
    booked = [diary.book(0, friday, UNIT_MINUTES) for _ in range(per_day + 1)]
    assert len({minute for _, day, minute in booked if day == friday}) == per_day
    assert booked[-1][1] == friday + timedelta(days=3)  # the Monday after
    assert diary.booked_units == per_day + 1


def test_the_diary_never_double_books_a_clinician():
    diary = Diary(2, random.Random(5))
    booked = sorted(diary.book(random.Random(n).randrange(2), date(2026, 6, 8), 20) for n in range(200))
    for (clinician, day, minute), (next_clinician, next_day, next_minute) in itertools.pairwise(booked):
        if (clinician, day) == (next_clinician, next_day):
            assert next_minute - minute >= 20
