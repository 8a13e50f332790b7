"""pit_portal.prepared: a query compiled once answers each new value as the queryset itself would."""

import pytest
from django.contrib.auth.models import Group

from accounts.models import CONFIRMED_DEVICE, ROLES_AND_PERMISSIONS, Role, _roles_and_permissions_of
from pit_portal.prepared import PreparedQuery
from tests.factories import UserFactory


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FRONT_DESK, Role.MANAGER, Role.PATIENT])
def test_the_prepared_roles_query_answers_as_the_queryset_does(db, role):
    user = UserFactory(role=role)
    other = UserFactory(role=Role.CLINICIAN)
    for someone in (user, other):
        assert sorted(ROLES_AND_PERMISSIONS.rows(someone.pk)) == sorted(_roles_and_permissions_of(someone.pk))
    assert ("role", role.value) in ROLES_AND_PERMISSIONS.rows(user.pk)


def test_the_prepared_device_check_sees_each_users_own_devices(db):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    enrolled, unenrolled, pending = UserFactory(), UserFactory(), UserFactory()
    TOTPDevice.objects.create(user=enrolled, name="phone", confirmed=True)
    TOTPDevice.objects.create(user=pending, name="phone", confirmed=False)
    assert [bool(CONFIRMED_DEVICE.rows(user.pk)) for user in (enrolled, unenrolled, pending)] == [True, False, False]


def test_a_query_that_does_not_take_its_value_as_a_parameter_is_refused(db):
    everything = PreparedQuery(lambda _value: Group.objects.values_list("name"))
    with pytest.raises(ValueError, match="parameter of its own"):
        everything.rows(1)


def test_the_number_of_values_is_checked(db):
    named = PreparedQuery(lambda group_id: Group.objects.filter(pk=group_id).values_list("name"))
    with pytest.raises(TypeError):
        named.rows(1, 2)
    group = Group.objects.create(name="Example")
    assert named.rows(group.pk) == [("Example",)]
    assert named.rows(group.pk + 1000) == []
