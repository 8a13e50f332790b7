"""Demo users (one per role) and a few patients, so a fresh `make run` has something to show."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts import mfa
from accounts.models import Role, User
from assessments.models import AnalgesicUse, Assessment, AssessmentKind, Nerve, PainArea, Side
from outcomes.models import EnteredVia, MeasureRequest, Moment, PatientReport
from patients import services
from patients.models import Condition, ConsentText, Medication, Patient
from patients.services import valid_consent
from scheduling import services as scheduling_services
from scheduling.models import AppointmentType, WorkingHours
from treatments import services as treatment_services
from treatments.models import CourseStatus, InjectionSession, InjectionSite, TreatmentCourse

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 (demo only; printed by `make run`)

DEMO_USERS = [
    # username, first name, last name, role, uses the admin site
    ("clinician", "Claire", "Nolan", Role.CLINICIAN, False),
    ("frontdesk", "Frank", "Desai", Role.FRONT_DESK, False),
    ("manager", "Maya", "Okafor", Role.MANAGER, True),
    ("patient", "Pat", "Morgan", Role.PATIENT, False),
]
DEMO_STAFF = [username for username, _, _, role, _ in DEMO_USERS if role != Role.PATIENT]

DEMO_PATIENTS = [
    # given, family, born, sex, phone, conditions, flags
    ("Pat", "Morgan", date(1968, 4, 12), "female", "+44 7911 123401", ["low-back-pain"], {"diabetes": True}),
    ("Anna", "Smith", date(1975, 9, 3), "female", "+44 7911 123402", ["carpal-tunnel-syndrome"], {}),
    (
        "Tomasz",
        "Kowalski",
        date(1959, 1, 27),
        "male",
        "+44 7911 123403",
        ["osteoarthritis"],
        {"anticoagulant_or_bleeding_disorder": True},
    ),
    (
        "Rhys",
        "Pritchard",
        date(1990, 6, 30),
        "male",
        "+44 7911 123404",
        ["lateral-epicondylitis-tennis-elbow"],
        {"allergy_amide_local_anaesthetic": True},
    ),
]


class Command(BaseCommand):
    help = "Create one demo user per role and a few demo patients (safe to run twice)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        users = {row[3]: self._user(*row) for row in DEMO_USERS}
        for row in DEMO_PATIENTS:
            self._patient(*row, by=users[Role.FRONT_DESK])
        Patient.objects.filter(given_name="Pat", family_name="Morgan").update(
            user=users[Role.PATIENT], email="pat.morgan@example.org", preferred_contact="email"
        )
        self._course_in_progress(Patient.objects.get(given_name="Anna", family_name="Smith"), users[Role.CLINICIAN])
        # Pat's course ended this week: the portal asks the end-of-course questions. Tomasz's ended three months
        # ago and he has answered both, so the outcomes have a follow-up to show.
        clinician = users[Role.CLINICIAN]
        self._finished_course(Patient.objects.get(given_name="Pat", family_name="Morgan"), clinician, 5, [8, 6, 4, 3])
        tomasz = self._finished_course(Patient.objects.get(family_name="Kowalski"), clinician, 95, [7, 5, 4, 3, 3])
        if tomasz is not None:
            self._answered(tomasz, Moment.COURSE_END, days_ago=93, nrs=3, pgic=2)
            self._answered(tomasz, Moment.AFTER_COURSE, days_ago=2, nrs=4, pgic=2, further_treatment=False)
        self._clinic_week(users[Role.CLINICIAN], users[Role.FRONT_DESK])
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, _, _, role, _ in DEMO_USERS:
            self.stdout.write(f"  {role.label:<11} {username}")
        self.stdout.write(
            "Staff then type a six-digit code. With no phone, the demo staff's app is on file: in another terminal, "
            "`make demo-code WHO=clinician` (or `manage.py demo_code clinician`, DEBUG only) prints it."
        )

    def _user(self, username: str, first: str, last: str, role: Role, admin_site: bool) -> User:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.org",
                "is_staff": admin_site,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role.value))
        if role != Role.PATIENT:
            mfa.give_confirmed_app(user)  # the second factor stays required; demo_code reads its code
        return user

    def _clinic_week(self, clinician: User, front_desk: User) -> None:
        """Working hours with a lunch break, and the next few days' appointments."""
        if WorkingHours.objects.filter(clinician=clinician).exists():
            return
        for weekday in range(5):
            WorkingHours.objects.create(clinician=clinician, weekday=weekday, starts=time(8, 30), ends=time(12, 30))
            WorkingHours.objects.create(clinician=clinician, weekday=weekday, starts=time(13, 30), ends=time(17, 30))
        session_type = AppointmentType.objects.get(code="pit-session")
        review_type = AppointmentType.objects.get(code="review")
        course = TreatmentCourse.objects.filter(patient__family_name="Smith").first()
        bookings = [("Smith", session_type, time(9, 0), course), ("Morgan", review_type, time(9, 30), None)]
        bookings += [("Kowalski", session_type, time(10, 0), None), ("Pritchard", session_type, time(14, 0), None)]
        day = self._next_working_day(timezone.localdate() + timedelta(days=1))
        for family_name, appointment_type, at, linked_course in bookings:
            scheduling_services.appointment_book(
                patient=Patient.objects.get(family_name=family_name), clinician=clinician,
                appointment_type=appointment_type, starts_at=timezone.make_aware(datetime.combine(day, at)),
                by=front_desk, course=linked_course,
            )  # fmt: skip

    @staticmethod
    def _next_working_day(day: date) -> date:
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return day

    def _course_in_progress(self, patient: Patient, clinician: User) -> None:
        """A first assessment and three signed weekly sessions, so the course page has a chart to show."""
        consent = valid_consent(patient)
        if consent is None or patient.assessments.exists():
            return
        now = timezone.now()
        assessment = Assessment.objects.create(
            patient=patient, kind=AssessmentKind.INITIAL, assessed_at=now - timedelta(days=22), clinician=clinician,
            presenting_complaint="Burning pain and tingling in the right hand, worse at night.",
            condition=Condition.objects.get(code="carpal-tunnel-syndrome"), side=Side.RIGHT, duration_months=14,
            nrs_current=7, nrs_worst=9, nrs_average=7, peg_pain=7, peg_enjoyment=6, peg_activity=7,
            dn4_burning=True, dn4_tingling=True, dn4_pins_and_needles=True, dn4_numbness=True,
            proposed_sessions=6, proposed_interval_days=7,
        )  # fmt: skip
        PainArea.objects.create(assessment=assessment, region="F-WRIST-HAND-R", intensity=7, tender=True)
        PainArea.objects.create(assessment=assessment, region="F-FOREARM-R", intensity=4)
        AnalgesicUse.objects.create(assessment=assessment, drug="Paracetamol", dose="1 g", doses_per_week=14)
        course = treatment_services.course_start(
            patient=patient, condition=assessment.condition, planned_sessions=6, interval_days=7,
            started_on=timezone.localdate() - timedelta(days=21), baseline_assessment=assessment, by=clinician,
        )  # fmt: skip
        nerve = Nerve.objects.get(code="palmar-cutaneous-branch-of-the-median-nerve")
        for number, (before, after) in enumerate([(7, 2), (5, 1), (4, 1)], start=1):
            session = InjectionSession.objects.create(
                course=course, number=number, performed_at=now - timedelta(days=21 - 7 * (number - 1)),
                clinician=clinician, consent=consent, pre_nrs=before, post_nrs=after,
                lot_number="DX-5-2291", lot_expiry=timezone.localdate() + timedelta(days=300),
                aftercare_given=True, next_interval_days=7,
            )  # fmt: skip
            InjectionSite.objects.create(
                session=session, nerve=nerve, side="right", points=6, volume_per_point_ml=Decimal("0.5")
            )
            treatment_services.session_sign(session=session, by=clinician)

    def _finished_course(
        self, patient: Patient, clinician: User, closed_days_ago: int, pain_before: list[int]
    ) -> TreatmentCourse | None:
        """A first assessment, weekly signed sessions with these pain scores before each, closed as completed
        `closed_days_ago` days ago through the service (which owes the end-of-course and follow-up questions)."""
        consent = valid_consent(patient)
        if consent is None or patient.courses.exists():
            return None
        condition = patient.intake.conditions.first() or Condition.objects.get(code="low-back-pain")
        first_day = timezone.now() - timedelta(days=closed_days_ago + 7 * len(pain_before))
        assessment = Assessment.objects.create(
            patient=patient, kind=AssessmentKind.INITIAL, assessed_at=first_day - timedelta(days=1),
            clinician=clinician, presenting_complaint="Aching pain with burning along the nerve, worse on walking.",
            condition=condition, side=Side.LEFT, duration_months=30, nrs_current=pain_before[0], nrs_worst=9,
            nrs_average=pain_before[0], peg_pain=pain_before[0], peg_enjoyment=7, peg_activity=7, dn4_burning=True,
            dn4_tingling=True, proposed_sessions=len(pain_before), proposed_interval_days=7,
        )  # fmt: skip
        course = treatment_services.course_start(
            patient=patient, condition=condition, planned_sessions=len(pain_before), interval_days=7,
            started_on=timezone.localdate(first_day), baseline_assessment=assessment, by=clinician,
        )  # fmt: skip
        nerve = Nerve.objects.get(code="infrapatellar-branch-of-the-saphenous-nerve")
        for number, before in enumerate(pain_before, start=1):
            session = InjectionSession.objects.create(
                course=course, number=number, performed_at=first_day + timedelta(days=7 * (number - 1)),
                clinician=clinician, consent=consent, pre_nrs=before, post_nrs=max(0, before - 3),
                lot_number="DX-5-2291", lot_expiry=timezone.localdate() + timedelta(days=300),
                aftercare_given=True, next_interval_days=7,
            )  # fmt: skip
            InjectionSite.objects.create(
                session=session, nerve=nerve, side="left", points=5, volume_per_point_ml=Decimal("0.5")
            )
            treatment_services.session_sign(session=session, by=clinician)
        closed_on = timezone.localdate() - timedelta(days=closed_days_ago)
        return treatment_services.course_close(
            course=course, status=CourseStatus.COMPLETED, final_pgic=2, closed_on=closed_on
        )

    def _answered(self, course: TreatmentCourse, moment: str, *, days_ago: int, **answers) -> None:
        """The patient's answer to the course's request at `moment`, as if given through the emailed link."""
        request = MeasureRequest.objects.filter(course=course, moment=moment, cancelled_at__isnull=True).first()
        if request is None or request.answered_at is not None:
            return
        when = timezone.now() - timedelta(days=days_ago)
        MeasureRequest.objects.filter(pk=request.pk).update(
            due_at=when - timedelta(hours=2), sent_at=when - timedelta(hours=1), answered_at=when,
            expires_at=max(request.expires_at, when + timedelta(days=1)),
        )  # fmt: skip
        PatientReport.objects.create(
            request=request, patient=course.patient, course=course, entered_via=EnteredVia.LINK, submitted_at=when,
            nrs_now=answers["nrs"], nrs_average=answers["nrs"], peg_enjoyment=answers["nrs"],
            peg_activity=answers["nrs"], pgic=answers.get("pgic"), further_treatment=answers.get("further_treatment"),
        )  # fmt: skip

    def _patient(self, given, family, born, sex, phone, condition_codes, flags, *, by: User) -> None:
        if Patient.objects.filter(given_name=given, family_name=family, date_of_birth=born).exists():
            return
        patient = services.patient_register(
            patient=Patient(given_name=given, family_name=family, date_of_birth=born, sex=sex, phone=phone),
            by=by,
        )
        intake = patient.intake
        for field, value in flags.items():
            setattr(intake, field, value)
        intake.save()
        intake.conditions.set(Condition.objects.filter(code__in=condition_codes))
        Medication.objects.create(
            intake=intake, drug="Paracetamol", dose="1 g", doses_per_week=Decimal("14"), is_analgesic=True
        )
        consent_text = ConsentText.objects.current()
        if consent_text:
            services.consent_record(patient=patient, consent_text=consent_text, signed_name=patient.full_name, by=by)
