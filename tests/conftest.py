"""Personas used across the suite: one user per role, plus two patients and an outsider."""

import pytest
from django.test import Client

from accounts.models import Role
from tests.factories import PASSWORD, PatientFactory, UserFactory


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def clinician(db):
    return UserFactory(username="alice", first_name="Alice", last_name="Carter", role=Role.CLINICIAN)


@pytest.fixture
def front_desk(db):
    return UserFactory(username="bob", first_name="Bob", last_name="Reyes", role=Role.FRONT_DESK)


@pytest.fixture
def manager(db):
    return UserFactory(username="mona", first_name="Mona", last_name="Lind", role=Role.MANAGER, is_staff=True)


@pytest.fixture
def patient_user(db):
    return UserFactory(username="charlie", first_name="Charlie", last_name="Day", role=Role.PATIENT)


@pytest.fixture
def outsider(db):
    """Signed in, but in no role at all."""
    return UserFactory(username="olga")


@pytest.fixture
def patient(db, patient_user):
    return PatientFactory(given_name="Charlie", family_name="Day", user=patient_user)


@pytest.fixture
def other_patient(db):
    return PatientFactory(given_name="Dana", family_name="Whitfield")


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def clinician_client(clinician) -> Client:
    return _client_for(clinician)


@pytest.fixture
def front_desk_client(front_desk) -> Client:
    return _client_for(front_desk)


@pytest.fixture
def manager_client(manager) -> Client:
    return _client_for(manager)


@pytest.fixture
def patient_client(patient_user) -> Client:
    return _client_for(patient_user)


@pytest.fixture
def outsider_client(outsider) -> Client:
    return _client_for(outsider)
