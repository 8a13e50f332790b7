import pytest

from tests.factories import PatientFactory
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
        ("diabetes", "glucose"),
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
