from decimal import Decimal

import pytest

from tests.factories import PatientFactory
from treatments.doses import Dose, DoseSummary
from treatments.models import Additive
from treatments.services import session_alerts


def _alerts(db_patient, **flags):
    for field, value in flags.items():
        setattr(db_patient.intake, field, value)
    return db_patient.intake


@pytest.mark.parametrize(
    ("flags", "additive", "blocking"),
    [
        ({"infection_or_open_wound": True, "infection_details": "ulcer on left shin"}, Additive.NONE, True),
        ({"allergy_amide_local_anaesthetic": True}, Additive.LIDOCAINE, True),
        ({"allergy_amide_local_anaesthetic": True}, Additive.MANNITOL, False),
        ({"allergy_amide_local_anaesthetic": True}, Additive.NONE, False),
    ],
)
def test_infection_and_anaesthetic_allergy_with_lidocaine_block(db, flags, additive, blocking):
    intake = _alerts(PatientFactory(), **flags)
    alerts = session_alerts(intake=intake, additive=additive)
    assert any(alert.blocking for alert in alerts) is blocking


@pytest.mark.parametrize(
    ("flag", "words"),
    [
        ("anticoagulant_or_bleeding_disorder", "bruising"),
        ("diabetes", "dextrose load"),
        ("pregnant_or_breastfeeding", "Pregnant"),
        ("allergy_corn_dextrose", "corn"),
    ],
)
def test_other_precautions_warn_without_blocking(db, flag, words):
    intake = _alerts(PatientFactory(), **{flag: True})
    [alert] = session_alerts(intake=intake, additive=Additive.NONE)
    assert not alert.blocking
    assert words in alert.message


def test_no_precautions_no_alerts(db):
    assert session_alerts(intake=PatientFactory().intake, additive=Additive.LIDOCAINE) == []


def test_the_diabetes_warning_gives_the_dextrose_of_this_note_its_course_and_the_last_30_days(db):
    intake = _alerts(PatientFactory(), diabetes=True)
    # 12 points x 0.5 mL of 12.5%: 6 mL, 0.75 g. Signed before it: 1.2 g in the course, 1.55 g in the 30 days.
    this_note = Dose(Decimal("6"), Decimal("0.75"))
    dose = DoseSummary(
        Decimal("12.5"), this_note, Dose(Decimal("14"), Decimal("1.2")), Dose(Decimal("9"), Decimal("1.55"))
    )
    [alert] = session_alerts(intake=intake, additive=Additive.NONE, dose=dose)
    assert alert.message == (
        "Diabetes: this note gives 0.75 g of dextrose (6.00 mL of 12.5%); with it, 1.95 g in this course and "
        "2.30 g over the last 30 days."
    )
    assert not alert.blocking
