"""Delayed reactions and follow-ups in the patient's change history: for those who read clinical notes only."""

from django.urls import reverse
from django.utils import timezone

from safety import services


def _history(client, patient) -> tuple[set[str], str]:
    response = client.get(reverse("patients:history", args=[patient.pk]))
    assert response.status_code == 200
    return {entry.record.split(" #")[0] for entry in response.context["page"].object_list}, response.content.decode()


def _follow_up_a_reaction(patient, patient_user, clinician) -> None:
    reaction = services.delayed_reaction_report(
        patient=patient, description="Rash on the thigh.", severity="mild", via="portal", by=patient_user
    )
    services.follow_up_update(
        event=reaction, status="referred", follow_up_on=timezone.localdate(), resolution_note="Seen by GP",
        by=clinician,
    )  # fmt: skip


def test_a_clinician_reads_the_reaction_and_its_follow_up_in_the_history(
    clinician_client, clinician, patient, patient_user, signed
):
    _follow_up_a_reaction(patient, patient_user, clinician)
    records, content = _history(clinician_client, patient)
    assert {"Delayed reaction", "Adverse event follow-up"} <= records
    assert "Rash on the thigh." in content and "Seen by GP" in content


def test_a_manager_reads_neither(manager_client, clinician, patient, patient_user, signed):
    _follow_up_a_reaction(patient, patient_user, clinician)
    records, content = _history(manager_client, patient)
    assert not {"Delayed reaction", "Adverse event follow-up"} & records
    assert "Rash on the thigh." not in content and "Seen by GP" not in content
