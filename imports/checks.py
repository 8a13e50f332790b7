"""Each row of an import checked, the same way for the preview and the import itself: what it would make, and
every reason it cannot. A patient row is validated by the registration form and matched against the registered
patients by registration's own rule (patients.services.identity_keys); an appointment row is held to the booking
rules (scheduling.services) for clinicians, working hours, the past and double booking. Everything the database
is asked is asked once for the whole file, never once a row."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from hashlib import sha256

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from imports.models import CsvImport, DateOrder, ImportedAppointment, ImportedPatient, ImportKind, PatientRow
from imports.presets import FIELDS
from imports.reading import Table
from patients.forms import LATEST_DAY, PatientForm
from patients.models import EARLIEST_MOMENT, NOTE_MAX, ContactMethod, Patient, Sex, check_not_before_birth
from patients.services import identity_keys, registered_duplicates
from scheduling.models import Appointment, AppointmentStatus, AppointmentType, TimeOff, WorkingHours, overlapping
from scheduling.services import clinicians, working_blocks

APPOINTMENT_NOTES_MAX = 500  # Appointment.notes
# Progress is told after this many rows.
PROGRESS_EVERY = 500

DATE_FORMATS = {
    DateOrder.DAY_FIRST: ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y-%m-%d"),
    DateOrder.MONTH_FIRST: ("%m/%d/%Y", "%m-%d-%Y", "%Y-%m-%d"),
    DateOrder.YEAR_FIRST: ("%Y-%m-%d", "%Y/%m/%d"),
}
TIME_FORMATS = ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M%p", "%I:%M:%S %p")
SEX_WORDS = {
    Sex.FEMALE: {"f", "female", "woman", "w"},
    Sex.MALE: {"m", "male", "man"},
    Sex.OTHER: {"other", "x", "intersex", "non-binary", "nonbinary", "o", "i"},
    Sex.UNKNOWN: {"", "u", "unknown", "not stated", "prefer not to say", "n", "undisclosed"},
}


@dataclass
class Checked:
    """One data row, checked: `number` as a spreadsheet numbers it, what it is about (`label`), every problem
    found, and what it would make when it has none."""

    number: int
    label: str = ""
    problems: list[str] = field(default_factory=list)
    patient: Patient | None = None
    appointment: Appointment | None = None
    external_id: str = ""
    notes: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


Progress = Callable[[int], None]


def _values(table: Table, row: list[str], mapping: dict[str, str]) -> dict[str, str]:
    index = {name: position for position, name in enumerate(table.header)}
    return {
        name: " ".join(row[index[column]].split())
        for name, column in mapping.items()
        if column in index and index[column] < len(row)
    }


def _ragged(table: Table, row: list[str]) -> str:
    return f"Has {len(row)} cells where the header names {len(table.header)} columns: check its commas and quotes."


def parse_date(text: str, order: str) -> date | None:
    for pattern in DATE_FORMATS[DateOrder(order)]:
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None


def parse_moment(text: str, order: str, time_text: str = "") -> datetime | None:
    """A date and time as written in the file (its own offset, or the clinic's zone), or None."""
    text = f"{text} {time_text}".strip()
    moment: datetime | None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = _with_time(text, order)
    if moment is None:
        return None
    # A naive time is the clinic's wall clock, placed across a clock change as the booking form places it.
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _with_time(text: str, order: str) -> datetime | None:
    day_text, _, time_text = text.replace("T", " ").partition(" ")
    day = parse_date(day_text, order)
    if day is None:
        return None
    for pattern in TIME_FORMATS:
        try:
            return datetime.combine(day, datetime.strptime(time_text.strip().upper(), pattern).time())
        except ValueError:
            continue
    return None


DATE_ORDER_HINT = {DateOrder.DAY_FIRST: "day/month/year", DateOrder.MONTH_FIRST: "month/day/year",
                   DateOrder.YEAR_FIRST: "year-month-day"}  # fmt: skip


# --- Patients ---------------------------------------------------------------------------------------------------


class ImportedPatientForm(PatientForm):
    """Registration's form, for a row of a file: the same fields, cleaning and messages, and the medical
    background's notes beside them. The clinic number is always assigned; whether the row is a patient already
    registered is checked for the whole file at once (check_patients)."""

    notes = forms.CharField(required=False, max_length=NOTE_MAX)

    class Meta(PatientForm.Meta):
        model = PatientRow

    def validate_unique(self) -> None:
        # Clinic numbers are assigned by the import, never read from the file; the database refuses a clash.
        return None


def _sex(text: str) -> str | None:
    folded = text.casefold()
    return next((sex for sex, words in SEX_WORDS.items() if folded in words), None)


def _patient_data(values: dict[str, str], order: str) -> tuple[dict[str, str], list[str]]:
    """The registration form's data for a row, and the problems found before the form sees it."""
    problems = []
    born_text = values.get("date_of_birth", "")
    born = parse_date(born_text, order)
    if born_text and born is None:
        problems.append(f"Date of birth “{born_text}” is not a date written {DATE_ORDER_HINT[DateOrder(order)]}.")
    sex = _sex(values.get("sex", ""))
    if sex is None:
        problems.append(f"Sex “{values['sex']}” is not one the portal knows (female, male, other or not stated).")
    phone = values.get("phone") or values.get("other_phone", "")
    email = values.get("email", "")
    preferred = ContactMethod.PHONE if phone else ContactMethod.EMAIL if email else ContactMethod.POST
    data = {name: values.get(name, "") for name in PatientForm.Meta.fields}
    data.update(
        date_of_birth=born.isoformat() if born else "", sex=sex or "", phone=phone, email=email,
        preferred_contact=preferred, clinic_number="", notes=values.get("notes", ""),
    )  # fmt: skip
    return data, problems


def _form_problems(form: forms.BaseForm) -> list[str]:
    problems = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        problems += [f"{label}: {error}" if label else str(error) for error in errors]
    return problems


def _check_patient_row(number: int, table: Table, row: list[str], mapping: dict[str, str], order: str) -> Checked:
    values = _values(table, row, mapping)
    checked = Checked(number, label=_patient_label(values), external_id=values.get("external_id", "")[:100])
    if len(row) != len(table.header):
        checked.problems.append(_ragged(table, row))
        return checked
    data, checked.problems = _patient_data(values, order)
    form = ImportedPatientForm(data)
    if not form.is_valid():
        checked.problems += [problem for problem in _form_problems(form) if not _reported(problem, checked.problems)]
    if checked.ok:
        checked.patient, checked.notes = form.instance, form.cleaned_data["notes"]
    return checked


def _reported(problem: str, problems: list[str]) -> bool:
    # A date or sex already named as unreadable is not reported again as missing.
    return problem.endswith("This field is required.") and any(
        p.startswith(("Date of birth", "Sex")) and problem.startswith(p.split(" ", 1)[0]) for p in problems
    )


def _patient_label(values: dict[str, str]) -> str:
    name = " ".join(filter(None, (values.get("given_name"), values.get("family_name"))))
    born = values.get("date_of_birth", "")
    return (f"{name}, born {born}" if born else name)[:300]


def check_patients(csv_import: CsvImport, table: Table, progress: Progress | None = None) -> list[Checked]:
    """Every row of a patients file with its problems: unreadable values, what registration's form refuses, an id
    the source system's patients already imported have, the same person as a registered patient (registration's
    rule, with the patient's clinic number and why), or as an earlier row of the file."""
    mapping, order = csv_import.mapping, csv_import.date_order
    rows: list[Checked] = []
    for position, row in enumerate(table.rows):
        rows.append(_check_patient_row(position + 2, table, row, mapping, order))
        if progress and (position + 1) % PROGRESS_EVERY == 0:
            progress(position + 1)
    _already_imported_patients(csv_import, rows)
    _registered_already(rows)
    _repeated_in_file(rows)
    return rows


def _already_imported_patients(csv_import: CsvImport, rows: list[Checked]) -> None:
    ids = {row.external_id for row in rows if row.ok and row.external_id}
    imported = dict(
        ImportedPatient.objects.filter(source_system=csv_import.source_system, external_id__in=ids).values_list(
            "external_id", "patient__clinic_number"
        )
    )
    for row in rows:
        if row.ok and row.external_id in imported:
            system = csv_import.get_source_system_display()
            row.problems.append(f"Already imported: {system} id {row.external_id} is {imported[row.external_id]}.")


def _registered_already(rows: list[Checked]) -> None:
    candidates = [row for row in rows if row.ok]
    matches = registered_duplicates([row.patient for row in candidates if row.patient is not None])
    for row, found in zip(candidates, matches, strict=True):
        if found:
            named = ", ".join(f"{patient.clinic_number} ({why})" for patient, why in found[:3])
            row.problems.append(f"May be a patient already registered: {named}.")


def _repeated_in_file(rows: list[Checked]) -> None:
    first_with: dict[tuple, int] = {}
    for row in rows:
        if not row.ok or row.patient is None:
            continue
        keys = identity_keys(row.patient) | ({("id", row.external_id)} if row.external_id else set())
        earlier = sorted({first_with[key] for key in keys if key in first_with})
        if earlier:
            row.problems.append(f"The same person as row {earlier[0]} of this file.")
            continue
        for key in keys:
            first_with[key] = row.number


# --- Appointments -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diary:
    """What an appointments file is checked against, read once: the clinicians, types, working hours, time off
    and the live appointments of the days the file books."""

    clinicians: dict[str, User]
    types: dict[str, AppointmentType]
    hours: list[WorkingHours]
    time_off: list[TimeOff]


def _clinician_names(user) -> set[str]:
    full = f"{user.first_name} {user.last_name}".strip()
    names = {full, f"{user.last_name}, {user.first_name}", user.username, user.email, f"Dr {full}", f"Dr. {full}"}
    return {" ".join(name.split()).casefold() for name in names if name.strip(", ")}


def _diary() -> Diary:
    staff = list(clinicians())
    by_name = {name: user for user in staff for name in _clinician_names(user)}
    types = {}
    for kind in AppointmentType.objects.filter(active=True):
        types[kind.name.casefold()] = types[kind.code.casefold()] = kind
    ids = [user.pk for user in staff]
    hours = list(WorkingHours.objects.filter(clinician__in=ids))
    time_off = list(TimeOff.objects.filter(Q(clinician__in=ids) | Q(clinician__isnull=True)))
    return Diary(by_name, types, hours, time_off)


def _appointment_label(values: dict[str, str]) -> str:
    who = " ".join(filter(None, (values.get("patient_given_name"), values.get("patient_family_name"))))
    who = who or f"patient {values.get('patient_external_id', '?')}"
    when = " ".join(filter(None, (values.get("starts_at"), values.get("start_time"))))
    return f"{who}, {when} with {values.get('clinician', '?')}"[:300]


def _length(values: dict[str, str], starts_at: datetime, kind: AppointmentType, order: str) -> str | None:
    """A problem when the file's length for the appointment is not its type's, which is what is booked."""
    minutes = None
    if values.get("duration"):
        try:
            minutes = int(float(values["duration"]))
        except ValueError:
            return f"Length “{values['duration']}” is not a number of minutes."
    elif values.get("ends_at"):
        ends = parse_moment(values["ends_at"], order)
        if ends is None:
            ends_time = _time_of(values["ends_at"])
            ends = (
                timezone.make_aware(datetime.combine(timezone.localdate(starts_at), ends_time)) if ends_time else None
            )
        if ends is None:
            return f"End “{values['ends_at']}” is not a time."
        minutes = int((ends - starts_at).total_seconds() // 60)
    if minutes is not None and minutes != kind.duration_minutes:
        return f"Lasts {minutes} minutes, but a {kind.name} lasts {kind.duration_minutes}: choose the type."
    return None


def _time_of(text: str) -> time | None:
    for pattern in TIME_FORMATS:
        try:
            return datetime.strptime(text.strip().upper(), pattern).time()
        except ValueError:
            continue
    return None


@dataclass
class _AppointmentRow:
    checked: Checked
    values: dict[str, str]
    starts_at: datetime | None = None
    clinician: User | None = None
    kind: AppointmentType | None = None


def _read_appointment_row(
    number: int, table: Table, row: list[str], csv_import: CsvImport, diary: Diary
) -> _AppointmentRow:
    values = _values(table, row, csv_import.mapping)
    checked = Checked(number, label=_appointment_label(values), notes=values.get("notes", ""))
    read = _AppointmentRow(checked, values)
    if len(row) != len(table.header):
        checked.problems.append(_ragged(table, row))
        return read
    problems = checked.problems
    read.clinician = diary.clinicians.get(values.get("clinician", "").casefold())
    if not values.get("clinician"):
        problems.append("No clinician.")
    elif read.clinician is None:
        problems.append(f"Unknown clinician “{values['clinician']}”: no active clinician of the clinic has that name.")
    type_name = values.get("appointment_type", "")
    read.kind = diary.types.get(type_name.casefold()) if type_name else csv_import.default_appointment_type
    if read.kind is None:
        problems.append(f"Unknown appointment type “{type_name}”." if type_name else "No appointment type.")
    _read_start(read, csv_import.date_order)
    if len(checked.notes) > APPOINTMENT_NOTES_MAX:
        problems.append("Notes: longer than the 500 characters an appointment's notes may have.")
    return read


def _read_start(read: _AppointmentRow, order: str) -> None:
    values, problems = read.values, read.checked.problems
    text = values.get("starts_at", "")
    read.starts_at = parse_moment(text, order, values.get("start_time", ""))
    if read.starts_at is None:
        problems.append(f"Start “{text}” is not a date and time ({DATE_ORDER_HINT[DateOrder(order)]} hh:mm).")
    elif not EARLIEST_MOMENT <= read.starts_at <= timezone.make_aware(datetime.combine(LATEST_DAY, time())):
        problems.append(f"Start “{text}” is not a plausible date.")
    elif read.starts_at < timezone.now():
        problems.append("In the past: only future appointments are imported.")
    elif read.kind is not None:
        problem = _length(values, read.starts_at, read.kind, order)
        if problem:
            problems.append(problem)
        read.checked.external_id = _appointment_key(values, read)


def _appointment_key(values: dict[str, str], read: _AppointmentRow) -> str:
    if values.get("external_id"):
        return values["external_id"][:200]
    # No id in the file: the booking itself is the key, so the same file imported again books nothing twice.
    who = "|".join(values.get(name, "").casefold() for name in ("patient_external_id", "patient_given_name",
                   "patient_family_name", "patient_date_of_birth"))  # fmt: skip
    assert read.starts_at is not None
    return (
        "row:"
        + sha256(f"{who}|{values.get('clinician', '').casefold()}|{read.starts_at.isoformat()}".encode()).hexdigest()
    )


def check_appointments(csv_import: CsvImport, table: Table, progress: Progress | None = None) -> list[Checked]:
    """Every row of an appointments file with its problems: an unknown patient, clinician or type, a start that is
    unreadable, implausible or past, a length that is not its type's, outside the clinician's working hours, booked
    over a live appointment or an earlier row of the file, before the patient was born, or imported already."""
    diary = _diary()
    read = []
    for position, row in enumerate(table.rows):
        read.append(_read_appointment_row(position + 2, table, row, csv_import, diary))
        if progress and (position + 1) % PROGRESS_EVERY == 0:
            progress(position + 1)
    _find_patients(csv_import, read)
    _already_imported_appointments(csv_import, read)
    _fits_the_diary(read, diary)
    for booking in read:
        if booking.checked.ok:
            booking.checked.appointment = _unsaved(booking)
    return [booking.checked for booking in read]


def _unsaved(row: _AppointmentRow) -> Appointment:
    assert row.kind is not None and row.starts_at is not None and row.checked.patient is not None
    return Appointment(
        patient=row.checked.patient, clinician=row.clinician, appointment_type=row.kind, starts_at=row.starts_at,
        ends_at=row.starts_at + timedelta(minutes=row.kind.duration_minutes), notes=row.checked.notes,
    )  # fmt: skip


def _find_patients(csv_import: CsvImport, read: list[_AppointmentRow]) -> None:
    """Each row's patient: by the source system's id of a patient imported from it, else by name and birth date
    (exactly one registered patient, matched as registration matches names)."""
    ids = {row.values.get("patient_external_id") for row in read} - {None, ""}
    by_id = {
        imported.external_id: imported.patient
        for imported in ImportedPatient.objects.filter(source_system=csv_import.source_system, external_id__in=ids)
        .select_related("patient")
    }  # fmt: skip
    births = {row.values.get("patient_date_of_birth", ""): None for row in read}
    born = {text: parse_date(text, csv_import.date_order) for text in births if text}
    by_name: dict[tuple, list[Patient]] = defaultdict(list)
    for patient in Patient.objects.filter(date_of_birth__in={day for day in born.values() if day}):
        by_name[(patient.given_name.casefold(), patient.family_name.casefold(), patient.date_of_birth)].append(patient)
    for row in read:
        _choose_patient(row, by_id, by_name, born, csv_import.get_source_system_display())


def _choose_patient(row: _AppointmentRow, by_id: dict, by_name: dict, born: dict, system: str) -> None:
    values, checked = row.values, row.checked
    external = values.get("patient_external_id", "")
    if external:
        checked.patient = by_id.get(external)
        if checked.patient is None:
            checked.problems.append(f"No patient imported from {system} has id {external}: import the patients first.")
    else:
        key = (values.get("patient_given_name", "").casefold(), values.get("patient_family_name", "").casefold(),
               born.get(values.get("patient_date_of_birth", "")))  # fmt: skip
        found = by_name.get(key, []) if key[2] else []
        if len(found) == 1:
            checked.patient = found[0]
        else:
            checked.problems.append(
                "No registered patient has this name and date of birth." if not found
                else f"{len(found)} registered patients have this name and date of birth: book it by hand."
            )  # fmt: skip
    if checked.patient is not None and row.starts_at is not None:
        try:
            check_not_before_birth(checked.patient, timezone.localdate(row.starts_at))
        except ValidationError as error:
            checked.problems += error.messages


def _already_imported_appointments(csv_import: CsvImport, read: list[_AppointmentRow]) -> None:
    keys = {row.checked.external_id for row in read if row.checked.external_id}
    done = set(
        ImportedAppointment.objects.filter(source_system=csv_import.source_system, external_id__in=keys).values_list(
            "external_id", flat=True
        )
    )
    for row in read:
        if row.checked.external_id in done:
            row.checked.problems.append("Already imported.")


def _fits_the_diary(read: list[_AppointmentRow], diary: Diary) -> None:
    """Working hours and double booking, against the diary as it is and the rows of the file before."""
    bookable = [row for row in read if row.checked.ok]
    if not bookable:
        return
    first = min(row.starts_at for row in bookable if row.starts_at)
    last = max(
        row.starts_at + timedelta(minutes=row.kind.duration_minutes) for row in bookable if row.starts_at and row.kind
    )
    busy: dict[int, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    live = Appointment.objects.filter(overlapping(first, last)).exclude(status=AppointmentStatus.CANCELLED)
    for starts, ends, clinician_id in live.values_list("starts_at", "ends_at", "clinician_id"):
        busy[clinician_id].append((starts, ends, "an appointment already in the diary"))
    for row in bookable:
        _fits(row, diary, busy)


def _fits(row: _AppointmentRow, diary: Diary, busy: dict) -> None:
    assert row.starts_at is not None and row.kind is not None and row.clinician is not None
    starts, ends, clinician = row.starts_at, row.starts_at + timedelta(minutes=row.kind.duration_minutes), row.clinician
    day = timezone.localtime(starts).date()
    blocks = working_blocks(clinician, day, diary.hours, diary.time_off)
    if not any(start <= starts and ends <= end for start, end in blocks):
        row.checked.problems.append("Outside the clinician's working hours (or on their day off).")
        return
    clash = next((what for start, end, what in busy[clinician.pk] if start < ends and starts < end), None)
    if clash:
        row.checked.problems.append(f"The clinician is already booked then, by {clash}.")
        return
    busy[clinician.pk].append((starts, ends, f"row {row.checked.number} of this file"))


def check(csv_import: CsvImport, table: Table, progress: Progress | None = None) -> list[Checked]:
    checker = check_patients if csv_import.kind == ImportKind.PATIENTS else check_appointments
    return checker(csv_import, table, progress)


def required_missing(kind: str, mapping: dict[str, str]) -> list[str]:
    return [field.label for field in FIELDS[ImportKind(kind)] if field.required and not mapping.get(field.name)]


def problems_in(rows: Iterable[Checked]) -> int:
    return sum(1 for row in rows if not row.ok)
