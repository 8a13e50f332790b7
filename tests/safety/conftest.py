import pytest

from accounts.models import Role
from tests.factories import CourseFactory, SessionFactory, UserFactory
from treatments import services as treatment_services
from treatments.models import AdverseEvent


@pytest.fixture
def signed(clinician, patient):
    """A signed session of the patient persona by the clinician persona, with a bruise in its note."""
    draft = SessionFactory(course=CourseFactory(patient=patient, created_by=clinician), clinician=clinician, sites=1)
    AdverseEvent.objects.create(session=draft, kind="bruising", severity="mild", note="Small bruise, lateral thigh")
    return treatment_services.session_sign(session=draft, by=clinician)


@pytest.fixture
def event(signed) -> AdverseEvent:
    return signed.adverse_events.get()


@pytest.fixture
def colleague(db):
    return UserFactory(username="yann", first_name="Yann", last_name="Berg", role=Role.CLINICIAN)
