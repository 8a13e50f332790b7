from django import forms

from imports import reading
from imports.models import CsvImport, DateOrder, ImportKind, SourceSystem
from imports.presets import FIELDS
from scheduling.models import AppointmentType

DETECT = ""


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label="The file holds", choices=ImportKind.choices)
    source_system = forms.ChoiceField(
        label="Exported from",
        choices=[(DETECT, "Tell from its columns"), *SourceSystem.choices],
        required=False,
        help_text="Cliniko's and Jane's exports are recognised by their column names.",
    )
    encoding = forms.ChoiceField(label="Text encoding", choices=list(reading.ENCODINGS.items()), initial=reading.UTF8)
    file = forms.FileField(label="CSV file", help_text="At most 10 MB; the first line names the columns.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        limit = reading.max_bytes() // (1024 * 1024)
        self.fields["file"].help_text = f"At most {limit} MB; the first line names the columns."


class MappingForm(forms.Form):
    """Which column of the file each of the portal's fields is read from."""

    date_order = forms.ChoiceField(label="Dates in the file are written", choices=DateOrder.choices)

    def __init__(self, *args, csv_import: CsvImport, **kwargs):
        super().__init__(*args, **kwargs)
        self.csv_import = csv_import
        columns = [("", "— not in the file —"), *((name, name) for name in csv_import.header)]
        self.portal_fields = FIELDS[ImportKind(csv_import.kind)]
        for field in self.portal_fields:
            label = f"{field.label} (needed)" if field.required else field.label
            self.fields[f"map_{field.name}"] = forms.ChoiceField(label=label, choices=columns, required=False)
        if csv_import.kind == ImportKind.APPOINTMENTS:
            self.fields["default_appointment_type"] = forms.ModelChoiceField(
                label="Appointment type for rows that name none",
                queryset=AppointmentType.objects.filter(active=True),
                required=False,
            )

    def clean(self):
        cleaned = super().clean()
        mapping = self.mapping()
        for field in self.portal_fields:
            if field.required and not mapping.get(field.name):
                self.add_error(f"map_{field.name}", "Choose the column this is read from.")
        used = list(mapping.values())
        for name, column in mapping.items():
            if used.count(column) > 1:
                self.add_error(f"map_{name}", f"The column “{column}” is chosen for another field too.")
        if self.csv_import.kind == ImportKind.APPOINTMENTS and not (
            mapping.get("patient_external_id") or mapping.get("patient_date_of_birth")
        ):
            self.add_error(None, "Choose the patient's id, or their name and date of birth, to find each patient.")
        return cleaned

    def mapping(self) -> dict[str, str]:
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return {field.name: data[f"map_{field.name}"] for field in self.portal_fields if data.get(f"map_{field.name}")}
