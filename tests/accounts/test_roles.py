import pytest
from django.contrib.auth.models import Group, Permission

from accounts.models import Role
from accounts.roles import ROLE_PERMISSIONS, role_group_id, sync_roles
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


# --- permissions come from accounts/roles.py -----------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_a_roles_permissions_are_those_roles_py_lists(db, role):
    user = UserFactory(role=role)
    assert user.get_all_permissions() == set(ROLE_PERMISSIONS[role])


def test_a_permission_added_to_the_group_in_the_database_grants_nothing(db):
    """roles.py is the one source of truth: a group's rows only name the role."""
    user = UserFactory(role=Role.FRONT_DESK)
    Group.objects.get(name=Role.FRONT_DESK).permissions.add(Permission.objects.get(codename="view_auditevent"))
    assert not user.has_perm("audit.view_auditevent")


def test_a_permission_granted_to_one_user_counts_for_that_user(db):
    user, colleague = UserFactory(role=Role.FRONT_DESK), UserFactory(role=Role.FRONT_DESK)
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    assert user.has_perm("audit.view_auditevent")
    assert not colleague.has_perm("audit.view_auditevent")


def test_roles_and_permissions_are_read_in_one_query_per_request(db, django_assert_num_queries):
    user = UserFactory(role=Role.CLINICIAN)
    with django_assert_num_queries(1):
        assert user.has_role(Role.CLINICIAN)
        assert user.has_perm("treatments.sign_injectionsession")
        assert user.has_perms(["patients.view_patient", "scheduling.add_appointment"])
        assert not user.has_perm("audit.view_auditevent")
        assert user.has_module_perms("treatments")


def test_an_inactive_user_has_no_permissions(db):
    user = UserFactory(role=Role.CLINICIAN, is_active=False)
    assert not user.has_perm("patients.view_patient")
