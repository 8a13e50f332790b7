"""Reading the change history back in tests."""

from django.db import models
from django.forms.models import model_to_dict

from patients.forms import PatientForm
from patients.models import Patient


def events_of(obj: models.Model, label: str | None = None) -> list:
    """The recorded events of one row, oldest first, with their context."""
    events = type(obj).pgh_event_model.objects.filter(pgh_obj_id=obj.pk).select_related("pgh_context")
    if label:
        events = events.filter(pgh_label=label)
    return list(events.order_by("pgh_id"))


def context_of(event) -> dict | None:
    return event.pgh_context.metadata if event.pgh_context_id else None


def patient_form_data(patient: Patient, **changes) -> dict:
    """What the edit form posts for this patient, with some fields changed."""
    data = {name: ("" if value is None else str(value)) for name, value in model_to_dict(patient).items()}
    return {name: data[name] for name in PatientForm.Meta.fields} | changes
