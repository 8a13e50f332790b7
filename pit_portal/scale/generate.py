"""The synthetic clinic: one patient at a time, from registration through first assessment, courses of signed
sessions and reviews, to appointments still to come, each row appended to its table in the loader.

Everything random comes from one seeded `random.Random`, so a seed and a run date give the same data.
Times are UTC datetimes; appointment times come from the clinicians' diaries (see diary.py).
"""

import hashlib
import json
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from accounts.models import User
from assessments.models import AnalgesicUse, Assessment, ContributingNerve, FunctionalActivity, PainArea
from documents.models import Document
from outcomes.models import EnteredVia, MeasureRequest, Moment, PatientReport
from outcomes.services import ANSWER_WINDOW, BEFORE_SESSION_LEAD, REMINDER_AFTER, SEND_AT
from patients.models import Intake, Medication, Patient, PatientConsent
from pit_portal.scale import vocabulary as words
from pit_portal.scale.diary import WORKING_MINUTES_PER_DAY, Clock, Diary, next_working_day
from pit_portal.scale.loader import Loader
from scheduling.models import Appointment
from treatments.models import AdverseEvent, InjectionSession, InjectionSite, SessionAddendum, TreatmentCourse

# Columns each table is filled with, in row order (model attribute names).
SPECS = (
    (User, ("id", "password", "last_login", "is_superuser", "username", "first_name", "last_name", "email",
            "is_staff", "is_active", "date_joined", "session_generation")),
    (User.groups.through, ("id", "user_id", "group_id")),
    (Patient, ("id", "clinic_number", "given_name", "family_name", "preferred_name", "date_of_birth", "sex", "phone",
               "email", "address_line1", "address_line2", "town", "postcode", "preferred_contact",
               "emergency_contact_name", "emergency_contact_relationship", "emergency_contact_phone", "gp_name",
               "gp_practice", "gp_phone", "gp_email", "user_id", "created_at", "updated_at", "created_by_id")),
    (Intake, ("id", "patient_id", "other_condition", "allergy_amide_local_anaesthetic", "allergy_corn_dextrose",
              "other_allergies", "anticoagulant_or_bleeding_disorder", "diabetes", "pregnant_or_breastfeeding",
              "infection_or_open_wound", "infection_details", "notes", "updated_at", "updated_by_id")),
    (Intake.conditions.through, ("id", "intake_id", "condition_id")),
    (Medication, ("id", "intake_id", "drug", "dose", "doses_per_week", "is_analgesic")),
    (PatientConsent, ("id", "patient_id", "consent_text_id", "signed_name", "signed_at", "witnessed_by_id",
                      "withdrawn_at")),
    (Assessment, ("id", "patient_id", "course_id", "kind", "assessed_at", "clinician_id", "presenting_complaint",
                  "condition_id", "side", "duration_months", "aggravating_factors", "nrs_current", "nrs_worst",
                  "nrs_average", "peg_pain", "peg_enjoyment", "peg_activity", "dn4_burning", "dn4_painful_cold",
                  "dn4_electric_shocks", "dn4_tingling", "dn4_pins_and_needles", "dn4_numbness", "dn4_itching",
                  "dn4_touch_hypoaesthesia", "dn4_pinprick_hypoaesthesia", "dn4_brushing_allodynia", "pgic",
                  "proposed_sessions", "proposed_interval_days", "plan_notes", "created_at")),
    (PainArea, ("id", "assessment_id", "region", "intensity", "tender", "note")),
    (ContributingNerve, ("id", "assessment_id", "nerve_id", "side")),
    (AnalgesicUse, ("id", "assessment_id", "drug", "dose", "doses_per_week")),
    (FunctionalActivity, ("id", "assessment_id", "activity", "score")),
    (TreatmentCourse, ("id", "patient_id", "condition_id", "planned_sessions", "interval_days", "status",
                       "stop_reason", "discontinued_reason", "closed_on", "final_pgic", "baseline_assessment_id",
                       "started_on", "created_by_id", "created_at")),
    (InjectionSession, ("id", "course_id", "number", "performed_at", "clinician_id", "consent_id", "pre_nrs",
                        "post_nrs", "dextrose_percent", "diluent", "buffered", "additive", "additive_percent",
                        "lot_number", "lot_expiry", "technique", "needle_gauge", "aftercare_given",
                        "next_interval_days", "notes", "alert_override_reason", "signed_at", "signed_by_id",
                        "content_sha256", "created_at", "updated_at")),
    (InjectionSite, ("id", "session_id", "nerve_id", "side", "points", "volume_per_point_ml")),
    (AdverseEvent, ("id", "session_id", "kind", "severity", "note")),
    (SessionAddendum, ("id", "session_id", "text", "author_id", "created_at")),
    (Appointment, ("id", "patient_id", "clinician_id", "appointment_type_id", "starts_at", "ends_at", "status",
                   "cancel_reason", "course_id", "session_id", "notes", "outside_hours_reason", "created_by_id",
                   "created_at", "updated_at")),
    (Document, ("id", "patient_id", "session_id", "kind", "version", "status", "superseded_at", "file_name",
                "sha256", "size_bytes", "page_count", "attempts", "last_error", "enqueued_at", "created_at",
                "ready_at")),
    (MeasureRequest, ("id", "patient_id", "course_id", "appointment_id", "moment", "days_after_course", "ask_nrs",
                      "ask_peg", "ask_pgic", "ask_further_treatment", "due_at", "expires_at", "link_nonce", "sent_at",
                      "reminded_at", "not_sent_reason", "answered_at", "cancelled_at", "cancel_reason",
                      "created_at")),
    (PatientReport, ("id", "request_id", "patient_id", "course_id", "nrs_now", "nrs_average", "peg_enjoyment",
                     "peg_activity", "pgic", "further_treatment", "entered_via", "entered_by_id", "submitted_at")),
)  # fmt: skip

# The fields a signature covers, as treatments.services.session_content lists them.
SIGNED_FIELDS = (
    "number", "performed_at", "clinician_id", "consent_id", "pre_nrs", "post_nrs", "dextrose_percent", "diluent",
    "buffered", "additive", "additive_percent", "lot_number", "lot_expiry", "technique", "needle_gauge",
    "aftercare_given", "next_interval_days", "notes", "alert_override_reason",
)  # fmt: skip
SESSION_FIELDS = SPECS[13][1]

# Shape of the data set: the averages the issue asks for (about 2 courses of 6 sessions of 4 sites each).
COURSES_PER_PATIENT = (1, 2, 2, 3)  # mean 2
PLANNED_SESSIONS = (6, 6, 6, 6, 6, 6, 4, 8)  # mean 6
SITES_PER_SESSION = (2, 3, 4, 4, 5, 6)  # mean 4
PORTAL_USER_SHARE = 0.2
NO_SHOW_SHARE = 0.03
CANCELLED_SHARE = 0.04
DISCONTINUED_SHARE = 0.07
# Why a discontinued course stopped, as the closing form lists it ("other" carries the words chosen beside it).
STOP_REASONS = ("no_benefit", "patient_choice", "patient_choice", "adverse_event", "lost_to_follow_up", "other")
ADVERSE_EVENT_SHARE = 0.04
ADDENDUM_SHARE = 0.02
# A course starts about this long after the review that closed the one before.
GAP_BETWEEN_COURSES = (30, 150)
# Notes of sessions this recent are sometimes still drafts, waiting to be signed.
DRAFT_WINDOW = timedelta(hours=24)
# Appointment types from the scheduling data migration, and the minutes each takes.
INITIAL, SESSION, REVIEW = "new-patient-assessment", "pit-session", "review"
# Minutes of diary one patient takes on average: first assessment, 12 sessions, 2 reviews.
MINUTES_PER_PATIENT = 45 + 12 * 20 + 2 * 15
MIN_HISTORY_DAYS = 2 * 365
# The average share of working time booked, over the whole history.
DIARY_FILL = 0.7
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
# What patients answer between visits, as the clinic's default schedule asks (outcomes migration 0002): pain and
# PEG before each session, and with the impression of change at the end of a course and 91 and 182 days after it.
# Only patients with an email address are sent the questions (70%); of those, this share answers.
BEFORE_SESSION_ANSWERED = 0.57  # so about 40% of sessions have the patient's own report from before it
AFTER_COURSE_ANSWERED = 0.6
REQUEST_CANCELLED_SHARE = 0.04  # no longer needed when sent (a course reopened, consent withdrawn)
FOLLOW_UP_DAYS = (91, 182)
NO_EMAIL = "No email address on file."
NO_LONGER_NEEDED = "This form is no longer needed."
# Starts with "!": Django treats it as unusable, so nobody can sign in with it.
UNUSABLE_PASSWORD = "!seed-scale"  # noqa: S105


def signature_digest(content: dict) -> str:
    """SHA-256 of a session's canonical JSON, exactly as treatments.services.session_digest makes it."""
    canonical = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Reference:
    """Ids of the reference rows the data migrations created, and of the seeded staff."""

    conditions: tuple[tuple[int, str], ...]
    nerves_by_region: dict[str, tuple[int, ...]]
    appointment_types: dict[str, tuple[int, int]]  # code: (id, minutes)
    consent_text_id: int
    patient_group_id: int
    clinicians: tuple[int, ...]
    front_desk: tuple[int, ...]


def moments(patients: int, clinicians: int, now: datetime, today: date) -> "Moments":
    """The time span the data set covers: at least two years back, and further when the clinicians' diaries
    could not hold every appointment in two years without running fuller than DIARY_FILL on average."""
    working_days = patients * MINUTES_PER_PATIENT / (clinicians * WORKING_MINUTES_PER_DAY * DIARY_FILL)
    span_days = max(MIN_HISTORY_DAYS, math.ceil(working_days * 7 / 5))
    return Moments(now, today, today - timedelta(days=span_days), today + timedelta(days=14))


@dataclass(frozen=True)
class Moments:
    """When the data set is seeded: appointments before `now` happened, later ones are booked."""

    now: datetime
    today: date
    first_day: date
    last_first_visit: date


class Clinic:
    """Generates patients into the loader's tables."""

    def __init__(self, loader: Loader, ref: Reference, diary: Diary, clock: Clock, moments: Moments, seed: int, *,
                 sign_later: bool = False):  # fmt: skip
        """With `sign_later`, sessions are written unsigned and their signatures kept in `signatures`, to be
        applied after their sites are in: the database refuses sites under a signed session while triggers run."""
        self.t = {model: loader[model] for model, _ in SPECS}
        self.sign_later = sign_later
        self.signatures: list[tuple[int, datetime, int | None, str]] = []
        self.ref = ref
        self.diary = diary
        self.clock = clock
        self.at = moments
        self.rng = random.Random(seed)
        # The patients' answers draw from a stream of their own, so the rest of the data set is the same as before
        # they were seeded.
        self.answers = random.Random(f"answers-{seed}")
        self.span = (moments.last_first_visit - moments.first_day).days
        self.condition_codes = dict(ref.conditions)

    # --- People -----------------------------------------------------------------------------------------------

    def patient(self, clinic_number: str) -> None:
        rng = self.rng
        first_visit = self.at.first_day + timedelta(days=rng.randrange(self.span + 1))
        clinician = rng.randrange(len(self.ref.clinicians))
        clinician_index, day, minute = self.diary.book(clinician, first_visit, self._minutes(INITIAL))
        first_visit_at = self.clock.at(day, minute)
        registered_at = min(first_visit_at - timedelta(days=rng.randint(3, 20)), self.at.now - timedelta(hours=1))
        desk = rng.choice(self.ref.front_desk)
        patient_id, full_name, has_email, user_id = self._patient_row(clinic_number, registered_at, first_visit_at,
                                                                      desk)  # fmt: skip
        intake = self._intake(patient_id, registered_at, desk)
        consent_id = self._consent(patient_id, full_name, registered_at + timedelta(minutes=10), desk)
        visit = _Visit(patient_id, consent_id, intake, has_email, user_id)
        initial = self._appointment(visit, clinician_index, day, minute, INITIAL, registered_at, desk)
        if initial is None:
            return  # a new referral: seen for the first time after today
        first_course_on = initial.day + timedelta(days=rng.randint(7, 14))
        # The first assessment belongs to the course it starts (as course_start links it).
        first_course_id = self.t[TreatmentCourse].new_id() if self._plans(first_course_on) else None
        assessment_id, condition_id, _ = self._assessment(visit, initial, kind="initial", course_id=first_course_id)
        if first_course_id is not None:
            self._courses(visit, clinician_index, initial, first_course_id, first_course_on, assessment_id,
                          condition_id)  # fmt: skip

    def _plans(self, course_starts_on: date) -> bool:
        """Whether a course starting then exists yet: courses are planned at most two weeks ahead."""
        return course_starts_on <= self.at.today + timedelta(days=14)

    def _patient_row(self, clinic_number: str, registered_at: datetime, first_visit_at: datetime, desk: int):
        rng = self.rng
        sex = rng.choices(("female", "male", "other", "unknown"), weights=(55, 43, 1, 1))[0]
        female = sex == "female" or (sex != "male" and rng.random() < 0.5)
        given = rng.choice(words.FEMALE_GIVEN if female else words.MALE_GIVEN)
        family = rng.choice(words.FAMILY_NAMES)
        age_days = int(rng.triangular(18, 92, 60) * 365.25) + rng.randrange(365)
        born = max(first_visit_at.date() - timedelta(days=age_days), date(1900, 1, 2))
        patient_id = self.t[Patient].new_id()
        email = f"{given}.{family}.{patient_id}@example.org".lower().replace("'", "") if rng.random() < 0.7 else ""
        # Only patients with an email address can be invited to the portal.
        portal = email and rng.random() < PORTAL_USER_SHARE / 0.7
        user_id = self._portal_user(given, family, email, registered_at) if portal else None
        contact = rng.choices(("phone", "sms", "email", "post"), weights=(40, 30, 25 if email else 0, 5))[0]
        has_emergency = rng.random() < 0.5
        emergency_given = rng.choice(words.FEMALE_GIVEN + words.MALE_GIVEN)
        area = rng.choice(words.POSTCODE_AREAS)
        self.t[Patient].add((
            patient_id, clinic_number, given, family, "" if rng.random() < 0.95 else given[:3], born, sex,
            self._phone(), email, f"{rng.randint(1, 180)} {rng.choice(words.STREETS)}", "", rng.choice(words.TOWNS),
            f"{area}{rng.randint(1, 29)} {rng.randint(1, 9)}{''.join(rng.choices(POSTCODE_LETTERS, k=2))}",
            contact, f"{emergency_given} {family}" if has_emergency else "",
            rng.choice(words.RELATIONSHIPS) if has_emergency else "", self._phone() if has_emergency else "",
            rng.choice(words.GP_NAMES), rng.choice(words.GP_PRACTICES), self._phone(), "", user_id, registered_at,
            registered_at, desk,
        ))  # fmt: skip
        return patient_id, f"{given} {family}", bool(email), user_id

    def _portal_user(self, given: str, family: str, email: str, registered_at: datetime) -> int:
        user_id = self.t[User].new_id()
        joined = min(registered_at + timedelta(days=self.rng.randint(1, 30)), self.at.now - timedelta(minutes=5))
        self.t[User].add((
            user_id, UNUSABLE_PASSWORD, None, False, f"patient-{user_id}", given, family, email, False, True, joined, 0
        ))  # fmt: skip
        self.t[User.groups.through].add((self.t[User.groups.through].new_id(), user_id, self.ref.patient_group_id))
        return user_id

    def _phone(self) -> str:
        return f"+44{self.rng.choice(words.DRAMA_PHONE_PREFIXES)}{self.rng.randrange(1000):03d}"

    def _intake(self, patient_id: int, registered_at: datetime, desk: int) -> "_Intake":
        rng = self.rng
        flags = _Intake(
            amide_allergy=rng.random() < 0.02,
            dextrose_allergy=rng.random() < 0.01,
            anticoagulant=rng.random() < 0.08,
            diabetes=rng.random() < 0.1,
            pregnant=rng.random() < 0.01,
            infection=rng.random() < 0.01,
        )
        intake_id = self.t[Intake].new_id()
        self.t[Intake].add((
            intake_id, patient_id, "", flags.amide_allergy, flags.dextrose_allergy,
            rng.choice(words.OTHER_ALLERGIES) if rng.random() < 0.1 else "", flags.anticoagulant, flags.diabetes,
            flags.pregnant, flags.infection, "Healing graze on the left shin" if flags.infection else "", "",
            registered_at, desk,
        ))  # fmt: skip
        through = self.t[Intake.conditions.through]
        for condition_id, _ in rng.sample(self.ref.conditions, rng.choice((1, 1, 2))):
            through.add((through.new_id(), intake_id, condition_id))
        for drug, dose, per_week, analgesic in rng.sample(words.MEDICATIONS, rng.choice((0, 1, 1, 2, 3))):
            self.t[Medication].add((self.t[Medication].new_id(), intake_id, drug, dose, Decimal(per_week), analgesic))
        return flags

    def _consent(self, patient_id: int, full_name: str, signed_at: datetime, desk: int) -> int:
        consent_id = self.t[PatientConsent].new_id()
        self.t[PatientConsent].add((consent_id, patient_id, self.ref.consent_text_id, full_name, signed_at, desk, None))
        return consent_id

    # --- The diary --------------------------------------------------------------------------------------------

    def _minutes(self, kind: str) -> int:
        return self.ref.appointment_types[kind][1]

    def _appointment(
        self,
        visit: "_Visit",
        clinician: int,
        day: date,
        minute: int,
        kind: str,
        booked_at: datetime,
        by: int,
        course_id: int | None = None,
    ) -> "_Slot | None":
        """Write a booked appointment; returns the slot if it is in the past (it happened), None if still to come."""
        starts_at = self.clock.at(day, minute)
        ends_at = starts_at + timedelta(minutes=self._minutes(kind))
        created_at = min(booked_at, self.at.now - timedelta(minutes=1))
        happened = starts_at < self.at.now
        slot = _Slot(clinician, day, starts_at, ends_at, kind, course_id, created_at, by, self.t[Appointment].new_id())
        if not happened:
            self._appointment_row(visit, slot, "booked", session_id=None)
            return None
        return slot

    def _appointment_row(self, visit: "_Visit", slot: "_Slot", status: str, session_id: int | None,
                         reason: str = "") -> None:  # fmt: skip
        updated_at = slot.ends_at if status != "booked" else slot.created_at
        self.t[Appointment].add((
            slot.appointment_id, visit.patient_id, self.ref.clinicians[slot.clinician],
            self.ref.appointment_types[slot.kind][0], slot.starts_at, slot.ends_at, status, reason, slot.course_id,
            session_id, "", "", slot.by, slot.created_at, max(updated_at, slot.created_at),
        ))  # fmt: skip

    def _attend(self, visit: "_Visit", clinician: int, earliest: date, kind: str, booked_at: datetime,
                course_id: int | None) -> "_Slot | None":  # fmt: skip
        """Book the visit on the first free slot from `earliest`; past visits may be cancelled and rebooked, or
        missed and rebooked a week later. Returns the slot of the visit that took place, or None if it is to come."""
        rng = self.rng
        desk = rng.choice(self.ref.front_desk)
        while True:
            if rng.random() < CANCELLED_SHARE:
                self._cancelled(visit, clinician, earliest, kind, booked_at, course_id, desk)
                earliest += timedelta(days=rng.randint(2, 7))
            clinician, day, minute = self.diary.book(clinician, earliest, self._minutes(kind))
            slot = self._appointment(visit, clinician, day, minute, kind, booked_at, desk, course_id)
            if slot is None or rng.random() >= NO_SHOW_SHARE:
                return slot
            self._appointment_row(visit, slot, "no_show", session_id=None)
            earliest, booked_at = day + timedelta(days=7), slot.ends_at

    def _cancelled(self, visit, clinician: int, day: date, kind: str, booked_at: datetime, course_id, by: int) -> None:
        """A cancelled booking: it no longer holds its time, so it is placed anywhere in the day."""
        day = next_working_day(day)
        starts_at = self.clock.at(day, self.diary.random_time(self._minutes(kind)))
        slot = _Slot(clinician, day, starts_at, starts_at + timedelta(minutes=self._minutes(kind)), kind, course_id,
                     min(booked_at, self.at.now - timedelta(minutes=1)), by, self.t[Appointment].new_id())  # fmt: skip
        self._appointment_row(visit, slot, "cancelled", None, reason=self.rng.choice(words.CANCEL_REASONS))

    # --- Clinical record --------------------------------------------------------------------------------------

    def _assessment(self, visit: "_Visit", slot: "_Slot", *, kind: str, course_id: int | None = None,
                    condition_id: int | None = None, improvement: int = 0) -> tuple[int, int, int]:  # fmt: skip
        """Returns the assessment's id, its condition's and the patient's pain now."""
        rng = self.rng
        self._appointment_row(visit, slot, "completed", session_id=None)
        assessment_id = self.t[Assessment].new_id()
        condition_id = condition_id or rng.choice(self.ref.conditions)[0]
        worst = max(3, min(10, rng.randint(6, 10) - improvement))
        current, average = max(0, worst - rng.randint(0, 2)), max(0, worst - rng.randint(1, 3))
        dn4 = [rng.random() < 0.45 for _ in range(10)]
        review = kind == "review"
        assessed_at = slot.starts_at + timedelta(minutes=5)
        self.t[Assessment].add((
            assessment_id, visit.patient_id, course_id, kind, assessed_at, self.ref.clinicians[slot.clinician],
            rng.choice(words.COMPLAINTS), condition_id, rng.choice(("left", "right", "bilateral", "midline")),
            rng.randint(2, 120), rng.choice(words.AGGRAVATING), current, worst, average,
            average, max(0, average - rng.randint(0, 2)), min(10, average + rng.randint(0, 1)), *dn4,
            rng.randint(1, 4) if review and improvement else (rng.randint(3, 5) if review else None),
            None if review else rng.choice((6, 6, 6, 8)), None if review else 7, rng.choice(words.PLAN_NOTES),
            assessed_at + timedelta(minutes=30),
        ))  # fmt: skip
        self._body_map(assessment_id, condition_id, worst)
        return assessment_id, condition_id, current

    def _areas(self, condition_id: int) -> tuple[str, tuple[str, ...]]:
        """(nerve region, body-map regions) typical of the condition; a fixed pairing for the others."""
        known = words.CONDITION_AREAS.get(self.condition_codes[condition_id])
        if known:
            return known
        pairings = list(words.CONDITION_AREAS.values())
        return pairings[condition_id % len(pairings)]

    def _body_map(self, assessment_id: int, condition_id: int, worst: int) -> None:
        rng = self.rng
        nerve_region, regions = self._areas(condition_id)
        for region in rng.sample(regions, min(len(regions), rng.randint(1, 3))):
            self.t[PainArea].add((
                self.t[PainArea].new_id(), assessment_id, region, rng.randint(max(0, worst - 4), worst),
                rng.random() < 0.6, "",
            ))  # fmt: skip
        seen = set()
        for nerve_id in rng.sample(self.ref.nerves_by_region[nerve_region], 2):
            side = rng.choice(("left", "right"))
            if (nerve_id, side) not in seen:
                seen.add((nerve_id, side))
                self.t[ContributingNerve].add((self.t[ContributingNerve].new_id(), assessment_id, nerve_id, side))
        for drug, dose, per_week, _ in rng.sample(words.MEDICATIONS[:8], rng.choice((0, 1, 1, 2))):
            self.t[AnalgesicUse].add((self.t[AnalgesicUse].new_id(), assessment_id, drug, dose, Decimal(per_week)))
        for activity in rng.sample(words.ACTIVITIES, rng.randint(1, 3)):
            self.t[FunctionalActivity].add(
                (self.t[FunctionalActivity].new_id(), assessment_id, activity, rng.randint(1, 8))
            )

    def _courses(self, visit: "_Visit", clinician: int, initial: "_Slot", course_id: int, earliest: date,
                 baseline_id: int, condition_id: int) -> None:  # fmt: skip
        rng = self.rng
        booked_at = initial.ends_at
        for number in range(rng.choice(COURSES_PER_PATIENT)):
            if number:
                if not self._plans(earliest):
                    return  # the next course is not planned yet
                condition_id = condition_id if rng.random() < 0.7 else rng.choice(self.ref.conditions)[0]
                course_id = self.t[TreatmentCourse].new_id()
            review = self._course(visit, clinician, course_id, earliest, booked_at, baseline_id, condition_id)
            if review is None:
                return  # the course is still running, or was stopped
            baseline_id, review_slot = review
            earliest = review_slot.day + timedelta(days=rng.randint(*GAP_BETWEEN_COURSES))
            booked_at = review_slot.ends_at

    def _course(self, visit, clinician: int, course_id: int, earliest: date, booked_at: datetime, baseline_id: int,
                condition_id: int):  # fmt: skip
        """One course: sessions, then a review. Returns (review assessment id, review slot) once the review has
        taken place; None while the course runs, or if it was discontinued."""
        rng = self.rng
        planned = rng.choice(PLANNED_SESSIONS)
        interval = 7 if rng.random() < 0.8 else 14
        stop_after = rng.randint(2, planned - 1) if rng.random() < DISCONTINUED_SHARE else None
        recipe = self._recipe(visit.intake, condition_id)
        started_on, last_day, pain = None, earliest, rng.randint(6, 9)
        status, reason, review = "active", "", None
        stop_reason, closed_on, final_pgic = "", None, None
        created_at = booked_at
        for number in range(1, planned + 1):
            slot = self._attend(visit, clinician, last_day if number == 1 else last_day + timedelta(days=interval),
                                SESSION, booked_at, course_id)  # fmt: skip
            if slot is None:
                break  # this and the remaining sessions are booked, not yet done
            started_on = started_on or slot.starts_at.date()
            clinician, last_day, booked_at = slot.clinician, slot.day, slot.ends_at
            pain = max(1, pain - rng.choice((0, 1, 1, 2)))
            self._session(visit, slot, course_id, number, recipe, pain, interval if number < planned else None)
            if number == stop_after:
                status, reason = "discontinued", rng.choice(words.DISCONTINUED_REASONS)
                stop_reason, closed_on = rng.choice(STOP_REASONS), last_day
                self._course_closed(visit, course_id, slot.ends_at, closed_on, pain, None)
                break
        else:
            review_slot = self._attend(visit, clinician, last_day + timedelta(days=rng.randint(7, 21)), REVIEW,
                                       booked_at, course_id)  # fmt: skip
            if review_slot is not None:
                review_id, _, end_pain = self._assessment(visit, review_slot, kind="review", course_id=course_id,
                                                          condition_id=condition_id,
                                                          improvement=rng.randint(0, 5))  # fmt: skip
                status, review = "completed", (review_id, review_slot)
                closed_on, final_pgic = review_slot.day, rng.choice((1, 2, 2, 3, 3, 4, 5))
                self._course_closed(visit, course_id, review_slot.ends_at, closed_on, end_pain, final_pgic)
        self.t[TreatmentCourse].add((
            course_id, visit.patient_id, condition_id, planned, interval, status, stop_reason, reason, closed_on,
            final_pgic, baseline_id, started_on or earliest, self.ref.clinicians[clinician], created_at,
        ))  # fmt: skip
        return review

    def _recipe(self, intake: "_Intake", condition_id: int) -> dict:
        """The solution a course uses; kept from session to session, as the form pre-fills it."""
        rng = self.rng
        additive, percent = "none", None
        roll = rng.random()
        if roll < 0.15 and not intake.amide_allergy:
            additive, percent = "lidocaine", rng.choice((Decimal("0.10"), Decimal("0.20"), Decimal("0.50")))
        elif roll < 0.2:
            additive, percent = "mannitol", Decimal("5.00")
        return {
            "dextrose_percent": rng.choice((Decimal("5.0"), Decimal("5.0"), Decimal("5.0"), Decimal("10.0"))),
            "diluent": rng.choice(("water", "water", "saline")),
            "buffered": rng.random() < 0.3,
            "additive": additive,
            "additive_percent": percent,
            "technique": "subcutaneous" if rng.random() < 0.9 else "ultrasound",
            "needle_gauge": rng.choice(("27G", "27G", "30G", "25G")),
            "nerves": self.ref.nerves_by_region[self._areas(condition_id)[0]],
        }

    def _session(self, visit, slot: "_Slot", course_id: int, number: int, recipe: dict, pain: int,
                 next_interval: int | None) -> None:  # fmt: skip
        rng = self.rng
        session_id = self.t[InjectionSession].new_id()
        performed_at = slot.starts_at + timedelta(minutes=2)
        clinician_id = self.ref.clinicians[slot.clinician]
        sites = self._sites(session_id, recipe["nerves"])
        events = self._adverse_events(session_id)
        values = {
            "number": number, "performed_at": performed_at, "clinician_id": clinician_id,
            "consent_id": visit.consent_id, "pre_nrs": pain, "post_nrs": max(0, pain - rng.randint(1, 4)),
            **{key: recipe[key] for key in ("dextrose_percent", "diluent", "buffered", "additive", "additive_percent")},
            "lot_number": f"DX-{rng.randint(1000, 9999)}",
            "lot_expiry": performed_at.date() + timedelta(days=rng.randint(90, 400)),
            "technique": recipe["technique"], "needle_gauge": recipe["needle_gauge"], "aftercare_given": True,
            "next_interval_days": next_interval, "notes": rng.choice(words.SESSION_NOTES),
            "alert_override_reason": "Treated away from the affected area." if visit.intake.infection else "",
        }  # fmt: skip
        draft = self.at.now - performed_at < DRAFT_WINDOW and rng.random() < 0.3
        signed_at, signed_by, digest = None, None, ""
        if not draft:
            content = {field: values[field] for field in SIGNED_FIELDS}
            content |= {"course_id": course_id, "patient_id": visit.patient_id}
            content |= {"sites": sites, "adverse_events": events}
            signed_at = min(performed_at + timedelta(minutes=rng.randint(15, 40)), self.at.now)
            signed_by, digest = clinician_id, signature_digest(content)
        created_at = performed_at + timedelta(minutes=1)
        row = {**values, "id": session_id, "course_id": course_id, "signed_at": signed_at, "signed_by_id": signed_by,
               "content_sha256": digest, "created_at": created_at, "updated_at": signed_at or created_at}  # fmt: skip
        if self.sign_later and signed_at is not None:
            self.signatures.append((session_id, signed_at, signed_by, digest))
            row |= {"signed_at": None, "signed_by_id": None, "content_sha256": ""}
        self.t[InjectionSession].add(tuple(row[field] for field in SESSION_FIELDS))
        self._appointment_row(visit, slot, "completed", session_id=session_id)
        self._before_session(visit, slot, course_id, pain)
        if signed_at is not None:
            self._documents(visit.patient_id, session_id, signed_at)

    def _sites(self, session_id: int, nerves: tuple[int, ...]) -> list[dict]:
        rng = self.rng
        sites = []
        chosen = rng.sample(nerves, min(len(nerves), rng.choice(SITES_PER_SESSION)))
        for nerve_id in chosen:
            site = {
                "nerve": nerve_id,
                "side": rng.choice(("left", "right", "left", "right", "midline")),
                "points": rng.randint(2, 12),
                "volume_per_point_ml": rng.choice((Decimal("0.50"), Decimal("0.50"), Decimal("0.30"), Decimal("1.00"))),
            }
            sites.append(site)
            self.t[InjectionSite].add((
                self.t[InjectionSite].new_id(), session_id, nerve_id, site["side"], site["points"],
                site["volume_per_point_ml"],
            ))  # fmt: skip
        return sites

    def _adverse_events(self, session_id: int) -> list[dict]:
        if self.rng.random() >= ADVERSE_EVENT_SHARE:
            return []
        event = {
            "kind": self.rng.choice(("bruising", "bruising", "site_pain", "vasovagal")),
            "severity": "mild" if self.rng.random() < 0.9 else "moderate",
            "note": self.rng.choice(words.ADVERSE_NOTES),
        }
        self.t[AdverseEvent].add((self.t[AdverseEvent].new_id(), session_id, event["kind"], event["severity"],
                                  event["note"]))  # fmt: skip
        return [event]

    def _documents(self, patient_id: int, session_id: int, signed_at: datetime) -> None:
        """The aftercare sheet and visit summary a signature makes, already rendered (no files are written);
        an addendum now and then makes a second version of both and supersedes the first."""
        rng = self.rng
        addendum_at = signed_at + timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 6))
        with_addendum = rng.random() < ADDENDUM_SHARE and addendum_at < self.at.now
        if with_addendum:
            self.t[SessionAddendum].add((
                self.t[SessionAddendum].new_id(), session_id, rng.choice(words.ADDENDA),
                rng.choice(self.ref.clinicians), addendum_at,
            ))  # fmt: skip
        for version, made_at, superseded_at in (
            (1, signed_at, addendum_at if with_addendum else None),
            *(((2, addendum_at, None),) if with_addendum else ()),
        ):
            for kind, pages in (("aftercare", 2), ("visit_summary", 2)):
                document_id = self.t[Document].new_id()
                ready_at = made_at + timedelta(seconds=rng.randint(2, 20))
                self.t[Document].add((
                    document_id, patient_id, session_id, kind, version, "ready", superseded_at,
                    f"sessions/{session_id}/{kind}-v{version}-{document_id}.pdf",
                    hashlib.sha256(f"seed-scale-{document_id}".encode()).hexdigest(), rng.randint(15_000, 45_000),
                    pages, 1, "", made_at, made_at, ready_at,
                ))  # fmt: skip

    # --- Between visits (outcomes) ----------------------------------------------------------------------------

    def _before_session(self, visit: "_Visit", slot: "_Slot", course_id: int, pain: int) -> None:
        """The pre-session questions, due BEFORE_SESSION_LEAD ahead of the appointment and open until it starts;
        the pain reported is near the score the clinician then took."""
        due_at = slot.starts_at - BEFORE_SESSION_LEAD
        ask = _Ask(visit, course_id, Moment.BEFORE_SESSION, due_at, slot.starts_at, due_at, slot.appointment_id)
        self._request(ask, BEFORE_SESSION_ANSWERED, self._scores(pain))

    def _course_closed(self, visit: "_Visit", course_id: int, closed_at: datetime, closed_on: date, pain: int,
                       final_pgic: int | None) -> None:  # fmt: skip
        """The requests a course's closing makes (outcomes.services.course_followups_schedule): at the end, due
        at once, and 91 and 182 days later from SEND_AT; pain afterwards stays, or comes back a little."""
        rng = self.answers
        impression = final_pgic or rng.choice((3, 4, 4, 5))
        end = _nrs(pain + rng.choice((-1, 0, 0, 1)))
        ask = _Ask(visit, course_id, Moment.COURSE_END, closed_at, closed_at + ANSWER_WINDOW, closed_at)
        self._request(ask, AFTER_COURSE_ANSWERED, self._scores(end, pgic=impression))
        later = end
        for days in FOLLOW_UP_DAYS:
            later = _nrs(later + rng.choice((-1, 0, 0, 0, 1, 1, 2, 3)))
            relapsed = later > end + 1
            scores = self._scores(later, pgic=min(7, impression + relapsed), further=relapsed or rng.random() < 0.1)
            due_at = self.clock.at(closed_on + timedelta(days=days), SEND_AT.hour * 60 + SEND_AT.minute)
            ask = _Ask(visit, course_id, Moment.AFTER_COURSE, due_at, due_at + ANSWER_WINDOW, closed_at, days=days)
            self._request(ask, AFTER_COURSE_ANSWERED, scores)

    def _request(self, ask: "_Ask", answered_share: float, scores: tuple) -> None:
        """One request as the worker has left it by now: waiting (not due yet), not sent (no email address),
        cancelled, sent and unanswered (reminded once if its link lasts long enough), or answered with `scores`
        (the report's, as _scores gives them) through the portal by a portal user, else through the emailed link."""
        rng, now = self.answers, self.at.now
        sent_at = reminded_at = answered_at = cancelled_at = None
        not_sent = cancel_reason = ""
        if ask.due_at < now and not ask.visit.has_email:
            not_sent = NO_EMAIL
        elif ask.due_at < now:
            sent_at = ask.due_at  # the beat sends what is due
            roll, window = rng.random(), ask.expires_at - sent_at
            if roll < REQUEST_CANCELLED_SHARE:
                cancelled_at = _before(now, sent_at + window * rng.random())
                cancel_reason = NO_LONGER_NEEDED if cancelled_at else ""
            elif roll < REQUEST_CANCELLED_SHARE + answered_share:
                answered_at = _before(now, sent_at + window * rng.random() ** 2)  # most answer soon
            closed = answered_at or cancelled_at or ask.expires_at
            if sent_at + REMINDER_AFTER < closed:
                reminded_at = _before(now, sent_at + REMINDER_AFTER)
        request_id = self.t[MeasureRequest].new_id()
        created_at = min(ask.created_at, now)
        days = ask.days
        self.t[MeasureRequest].add((
            request_id, ask.visit.patient_id, ask.course_id, ask.appointment_id, ask.moment, days, True, True,
            ask.moment != Moment.BEFORE_SESSION, days is not None, ask.due_at, ask.expires_at,
            f"{rng.getrandbits(128):032x}", sent_at, reminded_at, not_sent, answered_at, cancelled_at, cancel_reason,
            created_at,
        ))  # fmt: skip
        if answered_at is None:
            return
        portal = ask.visit.user_id is not None
        self.t[PatientReport].add((
            self.t[PatientReport].new_id(), request_id, ask.visit.patient_id, ask.course_id, *scores,
            EnteredVia.PORTAL if portal else EnteredVia.LINK, ask.visit.user_id, answered_at,
        ))  # fmt: skip

    def _scores(self, pain: int, *, pgic: int | None = None, further: bool | None = None) -> tuple:
        """Pain now, average pain, PEG's enjoyment and activity, the impression of change, further treatment."""
        rng = self.answers
        now = _nrs(pain + rng.choice((-1, 0, 0, 0, 1)))
        average = _nrs(now + rng.choice((-1, 0, 1)))
        return now, average, _nrs(average + rng.randint(-2, 1)), _nrs(average + rng.randint(-1, 2)), pgic, further


def _before(now: datetime, moment: datetime) -> datetime | None:
    """`moment` if it has come by `now`; None if it is still to come."""
    return moment if moment < now else None


def _nrs(value: int) -> int:
    return max(0, min(10, value))


@dataclass(frozen=True)
class _Ask:
    """A request to be written: whom, for which course and moment, and when it is due, expires and was made."""

    visit: "_Visit"
    course_id: int
    moment: str
    due_at: datetime
    expires_at: datetime
    created_at: datetime
    appointment_id: int | None = None
    days: int | None = None


@dataclass(frozen=True)
class _Intake:
    """The intake answers later rows depend on (alerts, the choice of additive)."""

    amide_allergy: bool
    dextrose_allergy: bool
    anticoagulant: bool
    diabetes: bool
    pregnant: bool
    infection: bool


@dataclass(frozen=True)
class _Visit:
    patient_id: int
    consent_id: int
    intake: _Intake
    has_email: bool
    user_id: int | None


@dataclass(frozen=True)
class _Slot:
    """An appointment that took place (or was missed): who, when, and the id its row will have."""

    clinician: int
    day: date
    starts_at: datetime
    ends_at: datetime
    kind: str
    course_id: int | None
    created_at: datetime
    by: int
    appointment_id: int
