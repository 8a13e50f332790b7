"""Requests about data: the managers' pages and who may open them, what the database refuses, and a restriction
hiding the patient from search and booking until it is lifted."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from patients.data_requests import Decision, data_request_decide, data_request_record
from patients.models import DataRequest, DataRequestKind, DataRequestStatus
from patients.search import patient_search
from scheduling.models import Appointment
from tests.factories import PatientFactory
from tests.scheduling.factories import at, every_day, tomorrow
from tests.scheduling.test_booking import booking

pytestmark = pytest.mark.django_db


def requests_url(patient) -> str:
    return reverse("patients:data_requests", args=[patient.pk])


def new_url(patient) -> str:
    return reverse("patients:data_request_new", args=[patient.pk])


def restrict(patient, by) -> DataRequest:
    return data_request_record(patient=patient, kind=DataRequestKind.RESTRICTION, received_on=timezone.localdate(),
                               received_via="email", by=by)  # fmt: skip


# --- Pages and who may open them ---------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["clinician_client", "front_desk_client", "patient_client", "outsider_client"])
def test_only_managers_reach_the_pages(request, persona, patient, manager):
    client = request.getfixturevalue(persona)
    data_request = restrict(patient, manager)
    urls = [requests_url(patient), new_url(patient), reverse("patients:data_requests_open"),
            reverse("patients:data_request_decide", args=[patient.pk, data_request.pk])]  # fmt: skip
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert client.post(new_url(patient), {"kind": "erasure"}).status_code == 403
    assert DataRequest.objects.count() == 1


def test_a_manager_records_a_request_and_it_is_listed_and_audited(manager_client, patient):
    detail = manager_client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert requests_url(patient) in detail

    response = manager_client.post(new_url(patient), {
        "kind": "erasure", "received_on": timezone.localdate().isoformat(), "received_via": "letter",
        "notes": "Letter of 3 March",
    })  # fmt: skip

    assert response.status_code == 302
    data_request = DataRequest.objects.get()
    assert (data_request.kind, data_request.status, data_request.notes) == ("erasure", "open", "Letter of 3 March")
    page = manager_client.get(requests_url(patient)).content.decode()
    assert "Letter of 3 March" in page and "Record the outcome" in page
    event = AuditEvent.objects.get(action=Action.DATA_REQUEST_RECORDED)
    assert event.detail == {"kind": "erasure", "status": "open"}


def test_the_request_pages_are_not_for_a_request_of_another_patient(manager_client, manager, patient, other_patient):
    theirs = restrict(other_patient, manager)
    url = reverse("patients:data_request_decide", args=[patient.pk, theirs.pk])
    assert manager_client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"received_on": "2999-01-01"}, "in the future"),
        ({"received_on": "1999-12-31"}, "2000 or later"),
        ({"kind": "forget-me"}, "not one of the available choices"),
        ({"received_via": ""}, "This field is required"),
    ],
)
def test_bad_input_is_refused_with_a_message(manager_client, patient, overrides, message):
    data = {"kind": "erasure", "received_on": timezone.localdate().isoformat(), "received_via": "letter"}
    response = manager_client.post(new_url(patient), {**data, **overrides})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DataRequest.objects.exists()


def test_a_second_open_request_of_a_kind_is_refused(manager_client, manager, patient):
    data_request_record(patient=patient, kind="erasure", received_on=timezone.localdate(), received_via="email",
                        by=manager)  # fmt: skip
    data = {"kind": "erasure", "received_on": timezone.localdate().isoformat(), "received_via": "letter"}
    response = manager_client.post(new_url(patient), data)
    assert response.status_code == 400
    assert "already open" in response.content.decode()


def test_a_refusal_needs_a_reason(manager_client, manager, patient):
    data_request = restrict(patient, manager)
    url = reverse("patients:data_request_decide", args=[patient.pk, data_request.pk])
    response = manager_client.post(url, {"decision": "refuse", "outcome": "  "})
    assert response.status_code == 400
    assert "Say why" in response.content.decode()
    data_request.refresh_from_db()
    assert data_request.status == DataRequestStatus.OPEN


def test_the_pages_read_a_fixed_number_of_queries(manager_client, manager, warm_worker, django_assert_max_num_queries):
    patients = PatientFactory.create_batch(3)
    counts = []
    for patient, how_many in zip(patients, (1, 3), strict=False):
        for kind in ["restriction", "erasure", "lift_restriction"][:how_many]:
            if kind == "lift_restriction":
                data_request_decide(data_request=patient.data_requests.get(kind="restriction"),
                                    decision=Decision.CARRY_OUT, by=manager)  # fmt: skip
            data_request_record(patient=patient, kind=kind, received_on=timezone.localdate(), received_via="email",
                                by=manager)  # fmt: skip
        for url in (requests_url(patient), reverse("patients:data_requests_open")):
            with django_assert_max_num_queries(12) as captured:
                assert manager_client.get(url).status_code == 200
            counts.append(len(captured))
    assert counts[0] == counts[2] and counts[1] == counts[3]


# --- The database's own rules ------------------------------------------------------------------------------------


def _row(patient, manager, **overrides) -> DataRequest:
    fields = {"patient": patient, "kind": "erasure", "received_on": timezone.localdate(), "received_via": "email",
              "recorded_by": manager}  # fmt: skip
    return DataRequest(**{**fields, **overrides})


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "done"},  # no outcome, no decision time
        {"status": "refused", "outcome": "Kept until 2031"},  # no decision time
        {"status": "open", "outcome": "Something"},
        {"status": "lost", "outcome": "x", "decided_at": timezone.now()},
        {"kind": "forget"},
        {"received_on": timezone.localdate() + timedelta(days=5)},
    ],
)
def test_the_database_refuses_a_request_in_a_state_that_makes_no_sense(patient, manager, overrides):
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(patient, manager, **overrides).save()


def test_the_database_refuses_two_open_requests_of_a_kind(patient, manager):
    _row(patient, manager).save()
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(patient, manager).save()


# --- Restriction ---------------------------------------------------------------------------------------------------


def test_a_restriction_hides_the_patient_from_search_and_lifting_it_restores_them(manager, front_desk_client, patient):
    data_request = restrict(patient, manager)
    assert patient not in patient_search("Day")
    assert patient not in patient_search(patient.clinic_number)
    listing = front_desk_client.get(reverse("patients:list"), {"q": "Day"}).content.decode()
    assert patient.clinic_number not in listing
    # The record itself stays reachable by its address, with a banner saying why.
    page = front_desk_client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert "restricted-banner" in page

    data_request_decide(data_request=data_request, decision=Decision.CARRY_OUT, by=manager)
    assert patient not in patient_search("Day")  # granted: still in force
    lift = data_request_record(patient=patient, kind=DataRequestKind.LIFT_RESTRICTION,
                               received_on=timezone.localdate(), received_via="email", by=manager)  # fmt: skip
    data_request_decide(data_request=lift, decision=Decision.CARRY_OUT, by=manager)

    assert patient in patient_search("Day")


def test_refusing_or_withdrawing_a_restriction_ends_it(manager, patient):
    data_request = restrict(patient, manager)
    data_request_decide(data_request=data_request, decision=Decision.WITHDRAWN, outcome="Phoned to withdraw it",
                        by=manager)  # fmt: skip
    assert patient in patient_search("Day")


def test_a_restricted_patient_cannot_be_booked_and_can_again_once_lifted(front_desk_client, clinician, manager,
                                                                          patient):  # fmt: skip
    every_day(clinician)
    data_request = restrict(patient, manager)
    starts_at = at(tomorrow(), 10)

    form = front_desk_client.get(reverse("scheduling:book"), {"patient": patient.pk})
    found = front_desk_client.get(reverse("scheduling:book"), {"q": "Day"})
    refused = front_desk_client.post(reverse("scheduling:book"), booking(patient, clinician, starts_at))

    assert form.status_code == 409
    assert patient not in found.context["found"]
    assert refused.status_code == 409
    assert "cannot be booked" in refused.content.decode()
    assert not Appointment.objects.exists()

    data_request_decide(data_request=data_request, decision=Decision.REFUSE, outcome="Data is accurate",
                        by=manager)  # fmt: skip
    assert front_desk_client.post(reverse("scheduling:book"), booking(patient, clinician, starts_at)).status_code == 302
    assert Appointment.objects.filter(patient=patient).count() == 1


def test_a_lifting_needs_a_restriction_in_force(manager_client, patient):
    data = {"kind": "lift_restriction", "received_on": timezone.localdate().isoformat(), "received_via": "letter"}
    response = manager_client.post(new_url(patient), data)
    assert response.status_code == 400
    assert "No restriction is in force" in response.content.decode()


def test_the_clinics_list_leads_to_restricted_patients(manager_client, manager, patient):
    restrict(patient, manager)
    page = manager_client.get(reverse("patients:data_requests_open")).content.decode()
    assert requests_url(patient) in page
    assert "Restricted" in page
