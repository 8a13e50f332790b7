"""Requests about a patient's data (erasure, restriction of processing, lifting a restriction): recording them
and their outcome, the restriction they put in force, and the audit of each.

A restriction is in force from the day it is recorded until it is refused, withdrawn or lifted: while the clinic
looks into it the data is stored but not processed (GDPR article 18(1)). In force, the patient is left out of
every search and patient picker and cannot be booked; their record stays reachable by its address for the staff
who may read it, with a banner saying so, as storing and reading what is on file is what a restriction allows.
"""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from audit.models import Action, Source
from audit.services import record
from patients.anonymise import RetentionNotOver, patient_anonymise
from patients.models import DataRequest, DataRequestKind, DataRequestStatus, Patient


class Decision:
    """What a manager can decide about an open request."""

    CARRY_OUT = "carry_out"
    REFUSE = "refuse"
    WITHDRAWN = "withdrawn"


CARRY_OUT_LABELS = {
    DataRequestKind.ERASURE: "Erase: anonymise the patient",
    DataRequestKind.RESTRICTION: "Restrict processing",
    DataRequestKind.LIFT_RESTRICTION: "Lift the restriction",
}


def _audit(action: Action, data_request: DataRequest, by: User | None, request: HttpRequest | None) -> None:
    # The kind and status only: never the notes or the outcome, which may quote the patient.
    detail = {"kind": data_request.kind, "status": data_request.status}
    source = None if request is not None else Source.COMMAND
    record(action, request=request, actor=by, patient=data_request.patient_id, obj=data_request, detail=detail,
           source=source)  # fmt: skip


def _refuse_to_record(patient: Patient, kind: str) -> None:
    if patient.anonymised_at is not None:
        raise ValidationError("This patient has been anonymised: there is nothing left to ask about.")
    open_kinds = set(patient.data_requests.filter(status=DataRequestStatus.OPEN).values_list("kind", flat=True))
    if kind in open_kinds:
        raise ValidationError("A request of this kind is already open: record its outcome, or add to its notes.")
    if kind == DataRequestKind.RESTRICTION and patient.restricted_at is not None:
        raise ValidationError("A restriction is already in force.")
    if kind == DataRequestKind.LIFT_RESTRICTION:
        if patient.restricted_at is None:
            raise ValidationError("No restriction is in force to lift.")
        if DataRequestKind.RESTRICTION in open_kinds:
            raise ValidationError("The restriction is still being decided: refuse or withdraw it to lift it.")


@transaction.atomic
def data_request_record(
    *,
    patient: Patient,
    kind: str,
    received_on: date,
    received_via: str,
    notes: str = "",
    by: User,
    request: HttpRequest | None = None,
) -> DataRequest:
    """Record a request as received. A restriction is in force from now. Refused (ValidationError) for an
    anonymised patient, a second open request of a kind, a restriction already in force, or a lifting with none."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    _refuse_to_record(patient, kind)
    data_request = DataRequest(patient=patient, kind=kind, received_on=received_on, received_via=received_via,
                               notes=notes.strip(), recorded_by=by)  # fmt: skip
    data_request.full_clean()
    data_request.save()
    if kind == DataRequestKind.RESTRICTION:
        Patient.objects.filter(pk=patient.pk).update(restricted_at=timezone.now())
    _audit(Action.DATA_REQUEST_RECORDED, data_request, by, request)
    return data_request


def _carry_out(data_request: DataRequest, by: User | None, request: HttpRequest | None, today: date | None) -> str:
    """Do what the request asks; the outcome's words. An erasure before the retention period ends raises
    RetentionNotOver and changes nothing."""
    patient = data_request.patient
    if data_request.kind == DataRequestKind.ERASURE:
        patient_anonymise(patient=patient, by=by, today=today, request=request)
        return f"The patient was anonymised on {timezone.localdate():%-d %B %Y}."
    if data_request.kind == DataRequestKind.LIFT_RESTRICTION:
        Patient.objects.filter(pk=patient.pk).update(restricted_at=None)
        return "The restriction was lifted."
    return "Processing is restricted: the record is kept, and the patient is not searched for or booked."


def _close(data_request: DataRequest, status: str, outcome: str, by: User | None) -> None:
    data_request.status = status
    data_request.outcome = outcome
    data_request.decided_by = by
    data_request.decided_at = timezone.now()
    data_request.full_clean()
    data_request.save(update_fields=["status", "outcome", "decided_by", "decided_at"])


@transaction.atomic
def data_request_decide(
    *,
    data_request: DataRequest,
    decision: str,
    outcome: str = "",
    by: User | None,
    request: HttpRequest | None = None,
    today: date | None = None,
) -> DataRequest:
    """Record what was decided about an open request, and do it. Carrying out an erasure before the patient's
    retention period ends refuses it instead, with the reason and date as its outcome. Refusing or withdrawing a
    restriction lifts it. Refused (ValidationError) when the request was already decided, or a refusal or
    withdrawal says no reason."""
    data_request = DataRequest.objects.select_for_update().select_related("patient").get(pk=data_request.pk)
    if data_request.status != DataRequestStatus.OPEN:
        raise ValidationError(f"This request was already decided ({data_request.get_status_display().lower()}).")
    outcome = outcome.strip()
    if decision == Decision.CARRY_OUT:
        try:
            done = _carry_out(data_request, by, request, today)
        except RetentionNotOver as refusal:
            _close(data_request, DataRequestStatus.REFUSED, refusal.retention.reason, by)
        else:
            _close(data_request, DataRequestStatus.DONE, " ".join(filter(None, [done, outcome])), by)
    elif decision in (Decision.REFUSE, Decision.WITHDRAWN):
        if not outcome:
            raise ValidationError("Say why, in words the patient can be told.", code="outcome_required")
        status = DataRequestStatus.REFUSED if decision == Decision.REFUSE else DataRequestStatus.WITHDRAWN
        if data_request.kind == DataRequestKind.RESTRICTION:
            Patient.objects.filter(pk=data_request.patient_id).update(restricted_at=None)
        _close(data_request, status, outcome, by)
    else:
        raise ValidationError("Choose what was decided.", code="decision")
    _audit(Action.DATA_REQUEST_DECIDED, data_request, by, request)
    return data_request
