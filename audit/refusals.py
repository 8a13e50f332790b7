"""Refused ids: an id that exists but is not the asker's is answered exactly like one that does not exist
(the same 404 page), and written to the audit trail as ACCESS_DENIED by audit.middleware."""

from django.db.models import QuerySet
from django.http import Http404


class RefusedObject(Http404):
    """A 404 for an id that exists but is someone else's: the response cannot tell it from a missing id."""

    def __init__(self, kind: str, object_id, patient_id: int | None = None) -> None:
        super().__init__(f"No such {kind}.")
        self.kind = kind
        self.object_id = str(object_id)
        self.patient_id = patient_id


def not_found(kind: str, pk, others: QuerySet, *, patient_field: str = "patient_id") -> Http404:
    """What to raise when `pk` is not among what the user may see. `others` are the rows the id may belong to
    (someone else's); one query, run only on this refusal path. `patient_field` names the patient's id on them."""
    try:
        found = list(others.filter(pk=pk).values_list(patient_field, flat=True)[:1])
    except (TypeError, ValueError):  # not even an id
        found = []
    if not found:
        return Http404(f"No such {kind}.")
    return RefusedObject(kind, pk, patient_id=found[0])
