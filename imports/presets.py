"""The portal's fields an import fills, and the column names other practice systems export them under.

The presets name the columns of Cliniko's patient export ("Patients" data export) and Jane's patient list
report as those systems are known to write them. Their own documentation of the headers was not at hand; a column
a preset names that a file lacks is simply left unmatched on the mapping form, where staff pick another."""

from dataclasses import dataclass

from imports.models import ImportKind, SourceSystem


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    required: bool = False


PATIENT_FIELDS = (
    Field("external_id", "ID in the other system"),
    Field("given_name", "Given name", required=True),
    Field("family_name", "Family name", required=True),
    Field("preferred_name", "Preferred name"),
    Field("date_of_birth", "Date of birth", required=True),
    Field("sex", "Sex"),
    Field("email", "Email"),
    Field("phone", "Phone (mobile)"),
    Field("other_phone", "Phone (another, used when there is no mobile)"),
    Field("address_line1", "Address line 1"),
    Field("address_line2", "Address line 2"),
    Field("town", "Town or city"),
    Field("postcode", "Postcode"),
    Field("emergency_contact_name", "Emergency contact"),
    Field("gp_name", "GP / referrer"),
    Field("notes", "Notes (kept with the medical background)"),
)

APPOINTMENT_FIELDS = (
    Field("external_id", "Appointment ID in the other system"),
    Field("patient_external_id", "Patient ID in the other system"),
    Field("patient_given_name", "Patient's given name"),
    Field("patient_family_name", "Patient's family name"),
    Field("patient_date_of_birth", "Patient's date of birth"),
    Field("clinician", "Clinician", required=True),
    Field("starts_at", "Start (date and time)", required=True),
    Field("start_time", "Start time (when the date and time are in two columns)"),
    Field("duration", "Length in minutes"),
    Field("ends_at", "End (date and time, or time)"),
    Field("appointment_type", "Appointment type"),
    Field("notes", "Notes"),
)

FIELDS = {ImportKind.PATIENTS: PATIENT_FIELDS, ImportKind.APPOINTMENTS: APPOINTMENT_FIELDS}

# Portal field -> the column names the system exports it under, most likely first.
PRESETS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    (SourceSystem.CLINIKO, ImportKind.PATIENTS): {
        "external_id": ("ID", "Patient ID"),
        "given_name": ("First Name",),
        "family_name": ("Last Name",),
        "preferred_name": ("Preferred First Name", "Preferred Name"),
        "date_of_birth": ("Date of Birth",),
        "sex": ("Sex", "Gender"),
        "email": ("Email",),
        "phone": ("Mobile", "Mobile Phone"),
        "other_phone": ("Home Phone", "Work Phone", "Phone"),
        "address_line1": ("Address 1",),
        "address_line2": ("Address 2",),
        "town": ("City",),
        "postcode": ("Post Code",),
        "emergency_contact_name": ("Emergency Contact",),
        "gp_name": ("Referral Source", "Referring Doctor"),
        "notes": ("Notes",),
    },
    (SourceSystem.JANE, ImportKind.PATIENTS): {
        "external_id": ("Patient Number", "Patient ID", "ID"),
        "given_name": ("First Name",),
        "family_name": ("Last Name",),
        "preferred_name": ("Preferred Name",),
        "date_of_birth": ("Birth Date", "Date of Birth"),
        "sex": ("Sex", "Gender"),
        "email": ("Email",),
        "phone": ("Mobile Phone",),
        "other_phone": ("Home Phone", "Work Phone"),
        "address_line1": ("Address", "Address 1", "Street Address"),
        "address_line2": ("Address 2",),
        "town": ("City",),
        "postcode": ("Postal Code", "Postal/Zip Code", "Zip Code"),
        "emergency_contact_name": ("Emergency Contact Name",),
        "gp_name": ("Family Doctor", "Referring Physician"),
        "notes": ("Notes", "Patient Notes"),
    },
    (SourceSystem.CLINIKO, ImportKind.APPOINTMENTS): {
        "external_id": ("ID", "Appointment ID"),
        "patient_external_id": ("Patient ID",),
        "patient_given_name": ("Patient First Name", "First Name"),
        "patient_family_name": ("Patient Last Name", "Last Name"),
        "patient_date_of_birth": ("Patient Date of Birth", "Date of Birth"),
        "clinician": ("Practitioner", "Practitioner Name"),
        "starts_at": ("Appointment Start", "Start Time", "Appointment Date"),
        "ends_at": ("Appointment End", "End Time"),
        "duration": ("Duration", "Duration (mins)"),
        "appointment_type": ("Appointment Type",),
        "notes": ("Notes",),
    },
    (SourceSystem.JANE, ImportKind.APPOINTMENTS): {
        "external_id": ("Appointment ID", "ID"),
        "patient_external_id": ("Patient Number", "Patient ID"),
        "patient_given_name": ("First Name", "Patient First Name"),
        "patient_family_name": ("Last Name", "Patient Last Name"),
        "patient_date_of_birth": ("Birth Date",),
        "clinician": ("Staff Member", "Practitioner"),
        "starts_at": ("Start At", "Start Date", "Date"),
        "start_time": ("Start Time",),
        "ends_at": ("End At", "End Time"),
        "duration": ("Duration",),
        "appointment_type": ("Treatment", "Appointment Type"),
        "notes": ("Notes",),
    },
}

# Columns only one system writes: a header with them is that system's export.
SIGNATURES: dict[str, tuple[str, ...]] = {
    SourceSystem.CLINIKO: ("Post Code", "Address 1", "Unapplied Account Credit", "Practitioner", "Medicare"),
    SourceSystem.JANE: ("Birth Date", "Mobile Phone", "Staff Member", "Patient Number", "Preferred Name"),
}


def _folded(header: list[str]) -> dict[str, str]:
    return {name.strip().casefold(): name for name in header}


def detect_source(header: list[str]) -> str:
    """The system whose export the header is, by the columns only it writes; OTHER when neither fits better."""
    folded = _folded(header)
    scores = {
        system: sum(name.casefold() in folded for name in names) + _preset_matches(system, folded)
        for system, names in SIGNATURES.items()
    }
    best = max(scores, key=lambda system: scores[system])
    tied = list(scores.values()).count(scores[best]) > 1
    return SourceSystem.OTHER if scores[best] == 0 or tied else best


def _preset_matches(system: str, folded: dict[str, str]) -> int:
    return sum(
        any(name.casefold() in folded for name in names)
        for kind in ImportKind.values
        for names in PRESETS.get((system, kind), {}).values()
    )


def suggested_mapping(header: list[str], source: str, kind: str) -> dict[str, str]:
    """Each portal field's column in this header: by the system's preset, else a column named like the field."""
    folded = _folded(header)
    preset = PRESETS.get((source, kind), {})
    mapping: dict[str, str] = {}
    for field in FIELDS[ImportKind(kind)]:
        names = (*preset.get(field.name, ()), field.label, field.name.replace("_", " "))
        found = next((folded[name.casefold()] for name in names if name.casefold() in folded), None)
        if found is not None and found not in mapping.values():
            mapping[field.name] = found
    return mapping
