"""Migration 0007 marks every consent recorded before it as given at the desk, and those withdrawn as withdrawn
there: the rows keep their witness, and satisfy the new checks."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from patients.models import PatientConsent
from tests.factories import ConsentTextFactory, PatientFactory, UserFactory

BEFORE = [("patients", "0006_known_names")]
AFTER = [("patients", "0007_consent_in_the_portal")]
RAW_INSERT = (
    "INSERT INTO patients_patientconsent (patient_id, consent_text_id, signed_name, signed_at, witnessed_by_id,"
    " withdrawn_at) VALUES (%s, %s, 'A B', now(), %s, %s) RETURNING id"
)


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.fixture
def before_the_portal(transactional_db):
    # Made with today's models, before the schema goes back to what they no longer match.
    rows = UserFactory(), PatientFactory(), ConsentTextFactory(version=99)
    migrate(BEFORE)
    try:
        yield rows
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_consents_from_before_are_marked_as_given_at_the_desk(before_the_portal):
    witness, patient, text = before_the_portal
    with connection.cursor() as cursor:
        cursor.execute("SELECT now() - interval '1 day'")
        [(yesterday,)] = cursor.fetchall()
        cursor.execute(RAW_INSERT, [patient.pk, text.pk, witness.pk, yesterday])
        [(withdrawn_id,)] = cursor.fetchall()
        cursor.execute(RAW_INSERT, [patient.pk, text.pk, witness.pk, None])
        [(valid_id,)] = cursor.fetchall()
    migrate(AFTER)
    rows = PatientConsent.objects.in_bulk([withdrawn_id, valid_id])
    assert (rows[withdrawn_id].signed_via, rows[withdrawn_id].withdrawn_via) == ("desk", "desk")
    assert (rows[valid_id].signed_via, rows[valid_id].withdrawn_via) == ("desk", "")
    assert {row.witnessed_by_id for row in rows.values()} == {witness.pk}
    assert {row.signed_by_user_id for row in rows.values()} == {None}
