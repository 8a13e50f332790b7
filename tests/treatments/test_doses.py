"""Dextrose given (treatments.doses): worked examples by hand, and which notes the course and 30-day totals count.

A p% strength is p g per 100 mL, so grams = mL x p / 100.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from assessments.models import Nerve
from tests.factories import CourseFactory, PatientFactory, SessionFactory, consent_for
from tests.treatments.test_session_views import _local, session_post
from treatments.doses import Dose, dextrose_grams, dose_summary, note_dose, shown, signed_doses
from treatments.models import InjectionSession, InjectionSite
from treatments.services import session_sign

D = Decimal


@pytest.mark.parametrize(
    ("percent", "sites", "volume_ml", "grams"),
    [
        ("5", [(20, "0.5")], "10", "0.5"),  # 10 mL of 5%: 10 x 5 / 100
        ("12.5", [(12, "0.5")], "6", "0.75"),  # 12 x 0.5 = 6 mL; 6 x 12.5 / 100
        ("25", [(4, "0.5"), (6, "0.25")], "3.5", "0.875"),  # 2 + 1.5 mL; 3.5 x 25 / 100
        ("0.5", [(1, "0.05")], "0.05", "0.00025"),  # the smallest amounts the form takes
        ("15", [], "0", "0"),  # no sites yet
    ],
)
def test_worked_examples(percent, sites, volume_ml, grams):
    dose = note_dose(D(percent), [(points, D(volume)) for points, volume in sites])
    assert dose == Dose(D(volume_ml), D(grams))


def test_grams_are_millilitres_times_strength_over_100():
    assert dextrose_grams(D("10"), D("5")) == D("0.5")
    assert dextrose_grams(D("100"), D("1")) == D("1")  # 1% is 1 g per 100 mL


@pytest.mark.parametrize(
    ("amount", "text"), [("0.875", "0.88"), ("0.00625", "0.01"), ("0.004", "0.00"), ("6", "6.00"), ("1.005", "1.01")]
)
def test_figures_are_shown_to_two_places_half_up(amount, text):
    assert shown(D(amount)) == text


# --- The totals ---------------------------------------------------------------------------------------------------

NOW = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=1)


def _course(patient=None):
    """A course started long enough ago for notes 30 days and more before NOW."""
    return CourseFactory(patient=patient or PatientFactory(), started_on=timezone.localdate() - timedelta(days=90))


def _note(course, at, sites: list[tuple[int, str]], percent: str, *, signed: bool = True) -> InjectionSession:
    session = SessionFactory(course=course, performed_at=at, dextrose_percent=D(percent))
    nerve = Nerve.objects.order_by("id").first()
    for points, volume in sites:
        InjectionSite.objects.create(
            session=session, nerve=nerve, side="left", points=points, volume_per_point_ml=D(volume)
        )
    return session_sign(session=session, by=session.clinician) if signed else session


def _new_note(course, at=NOW, percent="12.5") -> InjectionSession:
    """The note being written: not yet saved."""
    return InjectionSession(course=course, performed_at=at, dextrose_percent=D(percent))


def test_signed_notes_of_the_course_and_the_last_30_days_are_added_up(db, django_assert_num_queries):
    course = _course()
    _note(course, NOW - timedelta(days=45), [(10, "1.0")], "5")  # 10 mL, 0.5 g: the course only
    _note(course, NOW - timedelta(days=10), [(12, "0.5"), (4, "0.5")], "12.5")  # 8 mL, 1 g: both
    other_course = _course(course.patient)
    _note(other_course, NOW - timedelta(days=5), [(8, "0.25")], "10")  # 2 mL, 0.2 g: the 30 days only
    note = _new_note(course)
    with django_assert_num_queries(1):
        in_course, recent = signed_doses(note)
    assert in_course == Dose(D("18"), D("1.5"))  # 10 + 8 mL; 0.5 + 1 g
    assert recent == Dose(D("10"), D("1.2"))  # 8 + 2 mL; 1 + 0.2 g


def test_with_this_note_added(db):
    course = _course()
    _note(course, NOW - timedelta(days=10), [(20, "0.5")], "5")  # 10 mL, 0.5 g
    summary = dose_summary(_new_note(course, percent="12.5"), [(12, D("0.5"))])  # 6 mL, 0.75 g
    assert summary.this_note == Dose(D("6"), D("0.75"))
    assert summary.course_total == summary.recent_total == Dose(D("16"), D("1.25"))


def test_drafts_never_count(db):
    course = _course()
    _note(course, NOW - timedelta(days=3), [(20, "1.0")], "25", signed=False)
    _note(course, NOW - timedelta(days=2), [(4, "0.5")], "5")  # 2 mL, 0.1 g
    assert signed_doses(_new_note(course)) == (Dose(D("2"), D("0.1")), Dose(D("2"), D("0.1")))


def test_other_patients_notes_never_count(db):
    course = _course()
    _note(_course(), NOW - timedelta(days=2), [(10, "1.0")], "20")
    assert signed_doses(_new_note(course)) == (Dose(), Dose())


@pytest.mark.parametrize(
    ("before", "recent"),
    [
        (timedelta(days=30), True),  # exactly 30 days before: counted
        (timedelta(days=30, minutes=1), False),
        (timedelta(days=29, hours=23, minutes=59), True),
        (timedelta(0), True),  # at the same moment as this note
        (-timedelta(minutes=1), False),  # after this note: counts for neither total
    ],
)
def test_the_30_days_are_those_before_the_note(db, before, recent):
    course = _course()
    _note(course, NOW - before, [(20, "0.5")], "5")  # 10 mL, 0.5 g
    in_course, last_30_days = signed_doses(_new_note(course))
    counted = Dose(D("10"), D("0.5"))
    assert last_30_days == (counted if recent else Dose())
    assert in_course == (counted if before >= timedelta(0) else Dose())


def test_the_window_moves_with_the_note_not_with_today(db):
    course = _course()
    _note(course, NOW - timedelta(days=70), [(20, "0.5")], "5")  # 10 mL, 0.5 g
    _, now_recent = signed_doses(_new_note(course))
    _, then_recent = signed_doses(_new_note(course, at=NOW - timedelta(days=50)))
    assert now_recent == Dose()
    assert then_recent == Dose(D("10"), D("0.5"))


def test_a_signed_note_is_not_counted_twice_on_its_own_page(db):
    course = _course()
    _note(course, NOW - timedelta(days=20), [(20, "0.5")], "5")  # 10 mL, 0.5 g
    signed = _note(course, NOW - timedelta(days=10), [(12, "0.5")], "12.5")  # 6 mL, 0.75 g
    summary = dose_summary(signed, [(12, D("0.5"))])
    assert summary.course_signed == summary.recent_signed == Dose(D("10"), D("0.5"))
    assert summary.course_total == Dose(D("16"), D("1.25"))


# --- On the pages -------------------------------------------------------------------------------------------------


def _shown(page: str, element_id: str) -> str:
    return page.split(f'id="{element_id}"')[1].split(">", 1)[1].split("<", 1)[0]


def _warnings(page: str) -> list[str]:
    return [part.split("</div>")[0] for part in page.split('data-alert="warning">')[1:]]


@pytest.fixture
def history(clinician):
    """A patient with diabetes and, before NOW: in this course, a note 45 days before (10 mL of 5%, 0.5 g) and one
    10 days before (6 mL of 12.5%, 0.75 g), a draft 3 days before (never counted); in another course, a note 5 days
    before (2 mL of 10%, 0.2 g); and another patient's note 2 days before (never counted)."""
    course = CourseFactory(created_by=clinician, started_on=timezone.localdate() - timedelta(days=90))
    course.patient.intake.diabetes = True
    course.patient.intake.save()
    _note(course, NOW - timedelta(days=45), [(10, "1.0")], "5")
    tenth_day = _note(course, NOW - timedelta(days=10), [(12, "0.5")], "12.5")
    _note(course, NOW - timedelta(days=3), [(20, "1.0")], "25", signed=False)
    _note(_course(course.patient), NOW - timedelta(days=5), [(8, "0.25")], "10")
    _note(_course(), NOW - timedelta(days=2), [(10, "1.0")], "20")
    return course, tenth_day


def test_the_session_form_shows_this_note_as_entered_with_the_totals(clinician_client, history):
    course, _ = history
    consent_for(course.patient)
    data = session_post(performed_at=_local(NOW), dextrose_percent="12.5", lot_number="")  # refused: drawn again
    data |= {"sites-0-points": "12", "sites-0-volume_per_point_ml": "0.5", "sites-TOTAL_FORMS": "3"}
    nerve = data["sites-0-nerve"]
    data |= {
        f"sites-1-{field}": value
        for field, value in {
            "nerve": nerve,
            "side": "left",
            "points": "20",
            "volume_per_point_ml": "1",
            "DELETE": "on",
        }.items()
    }
    data |= {f"sites-2-{field}": value for field, value in
             {"nerve": nerve, "side": "left", "points": "99", "volume_per_point_ml": "1"}.items()}  # fmt: skip
    response = clinician_client.post(reverse("treatments:session_new", args=[course.pk]), data)
    assert response.status_code == 200 and InjectionSession.objects.count() == 5  # the history only
    page = response.content.decode()
    # This note: the first row only (the second is ticked for removal, the third refused): 6 mL of 12.5%.
    assert (_shown(page, "dose-note-g"), _shown(page, "dose-note-ml")) == ("0.75", "6.00")
    # The course: 0.5 + 0.75 + this note's 0.75 g; 10 + 6 + 6 mL. The draft never counts.
    assert (_shown(page, "dose-course-g"), _shown(page, "dose-course-ml")) == ("2.00", "22.00")
    # The last 30 days: 0.75 + 0.2 (the other course) + 0.75 g; 6 + 2 + 6 mL. Not the other patient's.
    assert (_shown(page, "dose-recent-g"), _shown(page, "dose-recent-ml")) == ("1.70", "14.00")
    # What the page's script adds this note to: the signed notes only.
    assert 'id="dose-course-g" data-signed="1.25000"' in page and 'id="dose-recent-ml" data-signed="8.00"' in page
    assert (
        "Diabetes: this note gives 0.75 g of dextrose (6.00 mL of 12.5%); with it, 2.00 g in this course and "
        "1.70 g over the last 30 days." in _warnings(page)
    )


def test_a_new_note_starts_at_nothing_given(clinician_client, history):
    course, _ = history
    consent_for(course.patient)
    page = clinician_client.get(reverse("treatments:session_new", args=[course.pk])).content.decode()
    assert (_shown(page, "dose-note-g"), _shown(page, "dose-course-g"), _shown(page, "dose-recent-g")) == (
        "0.00", "1.25", "0.95"  # the course: 0.5 + 0.75 g; the last 30 days: 0.75 + 0.2 g
    )  # fmt: skip
    assert any(warning.startswith("Diabetes: this note gives 0.00 g of dextrose") for warning in _warnings(page))


def test_a_draft_being_edited_shows_its_saved_sites(clinician_client, history):
    course, _ = history
    draft = InjectionSession.objects.get(course=course, signed_at=None)  # 20 mL of 25%: 5 g
    page = clinician_client.get(reverse("treatments:session_edit", args=[draft.pk])).content.decode()
    assert (_shown(page, "dose-note-g"), _shown(page, "dose-note-ml")) == ("5.00", "20.00")
    # As at the draft, 3 days before NOW: the course's two signed notes, and the 30 days' two (one in each course).
    assert (_shown(page, "dose-course-g"), _shown(page, "dose-recent-g")) == ("6.25", "5.95")


def test_the_session_page_shows_the_dose_as_at_the_note(clinician_client, history):
    _, tenth_day = history
    page = clinician_client.get(reverse("treatments:session", args=[tenth_day.pk])).content.decode()
    # This note 0.75 g; with the course's note 45 days before NOW (35 days before this one): 1.25 g, 16 mL. The
    # 30 days before it hold no other signed note: the later ones, in either course, are after it.
    assert (_shown(page, "dose-note-g"), _shown(page, "dose-note-ml")) == ("0.75", "6.00")
    assert (_shown(page, "dose-course-g"), _shown(page, "dose-course-ml")) == ("1.25", "16.00")
    assert (_shown(page, "dose-recent-g"), _shown(page, "dose-recent-ml")) == ("0.75", "6.00")
    assert (
        "Diabetes: this note gives 0.75 g of dextrose (6.00 mL of 12.5%); with it, 1.25 g in this course and "
        "0.75 g over the last 30 days." in page
    )


def test_without_diabetes_the_figures_show_without_the_warning(clinician_client, history):
    course, tenth_day = history
    course.patient.intake.diabetes = False
    course.patient.intake.save()
    page = clinician_client.get(reverse("treatments:session", args=[tenth_day.pk])).content.decode()
    assert _shown(page, "dose-course-g") == "1.25"
    assert "Diabetes" not in page
