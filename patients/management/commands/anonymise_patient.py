"""`manage.py anonymise_patient <patient id> --request <request id> [--by <username>]`: carry out a recorded
erasure request, as its outcome form does (patients.data_requests). Before the patient's retention period ends the
request is refused with the reason, which the command prints, and it exits with an error."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from patients.data_requests import Decision, data_request_decide
from patients.models import DataRequest, DataRequestKind, DataRequestStatus
from pit_portal.ids import parse_id


class Command(BaseCommand):
    help = "Anonymise a patient to carry out their recorded erasure request, once their retention period is over."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("patient", help="The patient's id.")
        parser.add_argument("--request", required=True, help="The id of the patient's erasure request.")
        parser.add_argument("--by", default="", help="The username of the manager deciding it (recorded).")

    def handle(self, *args, patient: str, request: str, by: str, **options) -> None:
        data_request = self._erasure_request(patient, request)
        if data_request.status == DataRequestStatus.DONE and data_request.patient.anonymised_at is not None:
            self.stdout.write(f"Patient {data_request.patient_id} was already anonymised: nothing to do.")
            return
        try:
            decided = data_request_decide(data_request=data_request, decision=Decision.CARRY_OUT, by=self._user(by))
        except ValidationError as refusal:
            raise CommandError(" ".join(refusal.messages)) from None
        if decided.status == DataRequestStatus.REFUSED:
            raise CommandError(f"Erasure refused and recorded as refused: {decided.outcome}")
        self.stdout.write(self.style.SUCCESS(f"Patient {decided.patient_id} anonymised. {decided.outcome}"))

    def _erasure_request(self, patient: str, request: str) -> DataRequest:
        patient_id, request_id = parse_id(patient), parse_id(request)
        if patient_id is None or request_id is None:
            raise CommandError("The patient and the request are given by their ids (whole numbers).")
        data_request = DataRequest.objects.select_related("patient").filter(pk=request_id).first()
        if data_request is None or data_request.patient_id != patient_id:
            raise CommandError(f"Patient {patient_id} has no request {request_id}.")
        if data_request.kind != DataRequestKind.ERASURE:
            raise CommandError(f"Request {request_id} is not an erasure request.")
        return data_request

    def _user(self, username: str) -> User | None:
        if not username:
            return None
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None or not user.has_perm("patients.manage_data_requests"):
            raise CommandError(f"“{username}” is not an active user who may decide requests about data.")
        return user
