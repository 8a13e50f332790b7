import hashlib
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction

from tests.factories import SessionFactory
from treatments import services
from treatments.models import AdverseEvent, InjectionSession, InjectionSite, SessionAddendum


@pytest.fixture
def signed_session(db, clinician):
    session = SessionFactory(sites=2, clinician=clinician)
    return services.session_sign(session=session, by=clinician)


def test_signing_records_who_when_and_a_digest_of_the_content(signed_session, clinician):
    assert signed_session.signed_by == clinician
    assert signed_session.signed_at is not None
    content = services.session_content(signed_session)
    expected = hashlib.sha256(json.dumps(content, sort_keys=True, default=str, separators=(",", ":")).encode())
    assert signed_session.content_sha256 == expected.hexdigest()
    assert services.session_signature_intact(signed_session)


def test_the_signed_content_holds_each_site_and_adverse_event_in_order(db, clinician):
    session = SessionFactory(sites=3, clinician=clinician)
    AdverseEvent.objects.create(session=session, kind="vasovagal", severity="mild", note="Felt faint, recovered")
    content = services.session_content(session)
    assert content["sites"] == [
        {"nerve": s.nerve_id, "side": s.side, "points": s.points, "volume_per_point_ml": s.volume_per_point_ml}
        for s in session.sites.order_by("id")
    ]
    assert content["adverse_events"] == [{"kind": "vasovagal", "severity": "mild", "note": "Felt faint, recovered"}]


def test_digest_changes_when_any_site_changes(db, clinician):
    session = SessionFactory(sites=1, clinician=clinician)
    before = services.session_digest(session)
    InjectionSite.objects.filter(session=session).update(points=9)
    assert services.session_digest(session) != before


def test_a_second_signature_is_refused(signed_session, clinician):
    with pytest.raises(services.SessionAlreadySigned):
        services.session_sign(session=signed_session, by=clinician)


def test_only_users_allowed_to_sign_can_sign(db, front_desk):
    session = SessionFactory(sites=1)
    with pytest.raises(PermissionDenied):
        services.session_sign(session=session, by=front_desk)


def test_a_session_without_sites_cannot_be_signed(db, clinician):
    session = SessionFactory(clinician=clinician)
    with pytest.raises(ValidationError, match="at least one injection site"):
        services.session_sign(session=session, by=clinician)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE treatments_injectionsession SET notes = 'changed' WHERE id = %s",
        "UPDATE treatments_injectionsession SET signed_at = NULL, signed_by_id = NULL, content_sha256 = ''"
        " WHERE id = %s",
        "DELETE FROM treatments_injectionsession WHERE id = %s",
        "UPDATE treatments_injectionsite SET points = 1 WHERE session_id = %s",
        "DELETE FROM treatments_injectionsite WHERE session_id = %s",
        "INSERT INTO treatments_injectionsite (session_id, nerve_id, side, points, volume_per_point_ml)"
        " SELECT %s, id, 'left', 1, 0.5 FROM assessments_nerve LIMIT 1",
        "INSERT INTO treatments_adverseevent (session_id, kind, severity, note) VALUES (%s, 'bruising', 'mild', '')",
    ],
)
def test_the_database_refuses_changes_to_a_signed_note_even_from_raw_sql(signed_session, statement):
    with pytest.raises(IntegrityError, match="signed"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, [signed_session.pk])


def test_orm_save_of_a_signed_note_is_refused_by_the_database(signed_session):
    signed_session.notes = "quietly edited"
    with pytest.raises(IntegrityError), transaction.atomic():
        signed_session.save()
    assert InjectionSession.objects.get(pk=signed_session.pk).notes == ""


def test_drafts_stay_editable_and_deletable(db):
    session = SessionFactory(sites=1)
    InjectionSession.objects.filter(pk=session.pk).update(notes="still a draft")
    InjectionSite.objects.filter(session=session).delete()
    assert InjectionSession.objects.get(pk=session.pk).notes == "still a draft"


def test_addenda_are_kept_under_the_signed_note_and_cannot_be_changed(signed_session, clinician):
    first = services.addendum_add(session=signed_session, text="Site 2 was the right side.", by=clinician)
    services.addendum_add(session=signed_session, text="Patient phoned: bruise settling.", by=clinician)
    assert [a.text for a in signed_session.addenda.all()] == [first.text, "Patient phoned: bruise settling."]
    with pytest.raises(IntegrityError), transaction.atomic():
        SessionAddendum.objects.filter(pk=first.pk).update(text="rewritten")
    with pytest.raises(IntegrityError), transaction.atomic():
        SessionAddendum.objects.filter(pk=first.pk).delete()
    assert services.session_signature_intact(InjectionSession.objects.get(pk=signed_session.pk))


def test_addenda_are_only_for_signed_notes(db, clinician):
    draft = SessionFactory(sites=1)
    with pytest.raises(ValidationError, match="addenda are for signed notes"):
        services.addendum_add(session=draft, text="note", by=clinician)
