import pytest
from django.contrib.auth.models import Group

from accounts.models import Role
from accounts.roles import role_group_id, sync_roles
from scheduling.services import calendar_clinicians
from tests.factories import UserFactory


def test_a_roles_group_id_is_its_groups(db):
    assert role_group_id(Role.CLINICIAN) == Group.objects.get(name=Role.CLINICIAN.value).pk
    assert role_group_id(Role.CLINICIAN) != role_group_id(Role.FRONT_DESK)


@pytest.fixture
def forget_group_ids():
    """The test's groups go with its transaction: what it read of them must go too."""
    yield
    role_group_id.cache_clear()


def test_groups_made_anew_are_read_anew(db, forget_group_ids):
    before = role_group_id(Role.CLINICIAN)
    Group.objects.filter(name=Role.CLINICIAN.value).delete()
    sync_roles()
    assert role_group_id(Role.CLINICIAN) == Group.objects.get(name=Role.CLINICIAN.value).pk != before


def test_the_calendars_show_active_clinicians_only_by_surname(db):
    later = UserFactory(role=Role.CLINICIAN, last_name="Young")
    sooner = UserFactory(role=Role.CLINICIAN, last_name="Adams")
    UserFactory(role=Role.CLINICIAN, last_name="Brown", is_active=False)
    UserFactory(role=Role.FRONT_DESK, last_name="Baker")
    assert calendar_clinicians() == [sooner, later]
