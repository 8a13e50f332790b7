"""Staff shown beside records are looked up by id, never joined (accounts.shown): the same names as a join
gives."""

import pytest

from accounts.models import Role, User
from accounts.shown import attach_users, shown_name, user_row, with_users
from tests.factories import CourseFactory, SessionFactory, UserFactory, consent_for
from treatments import services
from treatments.models import InjectionSession, SessionAddendum


@pytest.fixture
def late_clinician(db):
    """A clinician added after many other users, named with text that needs escaping."""
    UserFactory.create_batch(5)
    return UserFactory(first_name="Zoë", last_name="<Neil>", role=Role.CLINICIAN)


@pytest.fixture
def signed(late_clinician, clinician, django_capture_on_commit_callbacks):
    course = CourseFactory(created_by=late_clinician)
    consent_for(course.patient)
    SessionFactory(course=course, number=1, sites=2, clinician=late_clinician)
    draft = SessionFactory(course=course, number=2, sites=1, clinician=late_clinician)
    with django_capture_on_commit_callbacks(execute=False):
        session = services.session_sign(session=draft, by=late_clinician)
    services.addendum_add(session=session, text="Called the next day: all well.", by=clinician)
    return session


def test_looked_up_users_are_the_users_a_join_reads(signed, late_clinician, clinician):
    sessions = InjectionSession.objects.filter(course=signed.course).order_by("number")
    looked_up = attach_users(with_users(sessions, "clinician", "signed_by"), "clinician", "signed_by")
    joined = list(sessions.select_related("clinician", "signed_by"))
    for mine, theirs in zip(looked_up, joined, strict=True):
        for field in ("clinician", "signed_by"):
            ours, real = getattr(mine, field), getattr(theirs, field)
            assert (ours and (ours.pk, ours.username, ours.get_full_name())) == (
                real and (real.pk, real.username, real.get_full_name())
            )
    assert looked_up[0].signed_by is None and looked_up[1].signed_by == late_clinician
    [addendum] = attach_users(with_users(SessionAddendum.objects.filter(session=signed), "author"), "author")
    assert addendum.author == clinician and addendum.author.get_full_name() == clinician.get_full_name()


def test_a_shown_name_is_the_users_full_name_or_username(late_clinician):
    nameless = UserFactory(first_name="", last_name="")
    for user in (late_clinician, nameless):
        row = User.objects.filter(pk=user.pk).annotate(row=user_row("id")).values_list("row", flat=True).get()
        assert shown_name(row) == (user.get_full_name() or user.username)
