"""Lot recall: every patient injected from a product lot, for a supplier's recall or a reaction traced to a lot.

A session note records one lot, the dextrose product's (`InjectionSession.lot_number`); there is no separate lot
for an additive. A lot is a code, so it is matched whole after trimming, ignoring case: `upper(lot_number)`
against `upper()` of what was typed, both done by PostgreSQL, through the index `session_lot_number` (migration
treatments 0005). The same index finds the lots that start with what was typed, for the user to pick the exact
one.

Only signed notes count as injections: a draft may be a slip, so drafts are counted for the page to mention,
never listed. What the page lists and the CSV holds are the same rows (`recall_csv_rows`), each read in one query
whatever the number of patients.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.db.models import Count, Q, QuerySet, Value
from django.db.models.functions import Upper
from django.utils import timezone

from patients.forms import check_date_order, record_day_field
from patients.models import Patient
from patients.templatetags.phone_numbers import phone
from treatments.models import InjectionSession

LOT_MAX = InjectionSession._meta.get_field("lot_number").max_length
# The most lots the "starting with" list shows; typing more of the lot narrows it.
LOTS_LISTED = 50
DATE_FORMAT = "%d/%m/%Y"

CSV_HEADER = [
    "patient", "clinic number", "date of birth", "phone", "email", "address",
    "session date", "condition", "session", "clinician", "lot expiry",
]  # fmt: skip


class LotRecallForm(forms.Form):
    lot = forms.CharField(
        label="Product lot",
        max_length=LOT_MAX,
        error_messages={
            "required": "Enter the product lot, as printed on the vial.",
            "max_length": f"A lot has at most {LOT_MAX} characters.",
        },
        widget=forms.TextInput(attrs={"autofocus": True, "type": "search", "autocomplete": "off"}),
    )
    date_from = record_day_field("Injected from")
    date_to = record_day_field("to")

    def clean(self):
        cleaned = super().clean()
        check_date_order(cleaned.get("date_from"), cleaned.get("date_to"))
        return cleaned

    def search(self) -> "LotSearch":
        """What a valid form asks for."""
        data = self.cleaned_data
        return LotSearch(lot=data["lot"], date_from=data.get("date_from"), date_to=data.get("date_to"))


@dataclass(frozen=True)
class LotSearch:
    lot: str  # trimmed (the form's CharField strips); case is ignored by the queries
    date_from: date | None = None
    date_to: date | None = None

    def as_detail(self) -> dict:
        """The search as the audit trail records it: the lot and the dates, nothing about a patient."""
        detail: dict = {"lot": self.lot}
        if self.date_from:
            detail["from"] = self.date_from.isoformat()
        if self.date_to:
            detail["to"] = self.date_to.isoformat()
        return detail


def _start_of(day: date) -> datetime:
    """Midnight at the clinic, as an aware datetime: the dates are the clinic's, performed_at is compared as is."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _in_range(search: LotSearch) -> Q:
    within = Q()
    if search.date_from:
        within &= Q(performed_at__gte=_start_of(search.date_from))
    if search.date_to:
        within &= Q(performed_at__lt=_start_of(search.date_to + timedelta(days=1)))
    return within


def sessions_from_lot(search: LotSearch) -> QuerySet[InjectionSession]:
    """Session notes, signed or not, that name the lot, inside the search's dates."""
    return (
        InjectionSession.objects.alias(lot_key=Upper("lot_number"))
        .filter(lot_key=Upper(Value(search.lot)))
        .filter(_in_range(search))
    )


PATIENT_FIELDS = (
    "id", "given_name", "family_name", "clinic_number", "date_of_birth",
    "phone", "email", "address_line1", "address_line2", "town", "postcode",
)  # fmt: skip


def injections_from_lot(search: LotSearch) -> QuerySet[InjectionSession]:
    """The signed notes that name the lot, with what the page shows of each patient, course and clinician, grouped
    by patient (by name) and in date order within each: one query."""
    return (
        sessions_from_lot(search)
        .filter(signed_at__isnull=False)
        .select_related("course__patient", "course__condition", "clinician")
        .only(
            "number",
            "performed_at",
            "lot_expiry",
            "course__condition__name",
            *(f"course__patient__{field}" for field in PATIENT_FIELDS),
            "clinician__first_name",
            "clinician__last_name",
            "clinician__username",
        )
        .order_by(
            "course__patient__family_name",
            "course__patient__given_name",
            "course__patient_id",
            "performed_at",
            "id",
        )
    )


@dataclass(frozen=True)
class SessionLine:
    """One injection from the lot, as the page and the CSV show it."""

    session_id: int
    performed_on: str
    condition: str
    number: int
    clinician: str
    lot_expiry: str


@dataclass(frozen=True)
class PatientLine:
    """One patient injected from the lot, with their contact details and each of those injections."""

    patient_id: int
    name: str
    clinic_number: str
    date_of_birth: str
    phone: str
    email: str
    address: str
    sessions: tuple[SessionLine, ...]


@dataclass(frozen=True)
class LotRecall:
    search: LotSearch
    patients: tuple[PatientLine, ...]
    # Unsigned notes naming the lot in the same dates: mentioned, not listed.
    drafts: int

    @property
    def session_count(self) -> int:
        return sum(len(line.sessions) for line in self.patients)


def address_of(patient: Patient) -> str:
    parts = (patient.address_line1, patient.address_line2, patient.town, patient.postcode)
    return ", ".join(part for part in parts if part)


def _session_line(session: InjectionSession) -> SessionLine:
    clinician = session.clinician
    return SessionLine(
        session_id=session.pk,
        performed_on=timezone.localdate(session.performed_at).strftime(DATE_FORMAT),
        condition=session.course.condition.name,
        number=session.number,
        clinician=clinician.get_full_name() or clinician.get_username(),
        lot_expiry=session.lot_expiry.strftime(DATE_FORMAT),
    )


def _patient_line(patient: Patient, sessions: list[SessionLine]) -> PatientLine:
    return PatientLine(
        patient_id=patient.pk,
        name=f"{patient.family_name}, {patient.given_name}",
        clinic_number=patient.clinic_number,
        date_of_birth=patient.date_of_birth.strftime(DATE_FORMAT),
        phone=phone(patient.phone),
        email=patient.email,
        address=address_of(patient),
        sessions=tuple(sessions),
    )


def _grouped(sessions: list[InjectionSession]) -> Iterator[PatientLine]:
    """Consecutive sessions of one patient (the query orders them so) as that patient's line."""
    patient: Patient | None = None
    lines: list[SessionLine] = []
    for session in sessions:
        if patient is not None and session.course.patient_id != patient.pk:
            yield _patient_line(patient, lines)
            lines = []
        patient = session.course.patient
        lines.append(_session_line(session))
    if patient is not None:
        yield _patient_line(patient, lines)


def lot_recall(search: LotSearch) -> LotRecall:
    """The patients injected from the lot (signed notes only), and how many drafts also name it: two queries."""
    patients = tuple(_grouped(list(injections_from_lot(search))))
    drafts = sessions_from_lot(search).filter(signed_at__isnull=True).count()
    return LotRecall(search=search, patients=patients, drafts=drafts)


@dataclass(frozen=True)
class LotCount:
    lot: str  # as the search matches it: upper case
    signed: int
    drafts: int


def lots_alike(search: LotSearch) -> QuerySet:
    """The distinct lots (ignoring case) that start with what was typed, inside the search's dates, each with its
    numbers of signed and draft notes, in order."""
    return (
        InjectionSession.objects.annotate(lot_key=Upper("lot_number"))
        .filter(lot_key__startswith=Upper(Value(search.lot)))
        .filter(_in_range(search))
        .values("lot_key")
        .annotate(
            signed=Count("pk", filter=Q(signed_at__isnull=False)),
            drafts=Count("pk", filter=Q(signed_at__isnull=True)),
        )
        .order_by("lot_key")
    )


def lots_starting_with(search: LotSearch) -> tuple[list[LotCount], bool]:
    """The first LOTS_LISTED lots alike, and whether there are more: one query."""
    lots = [LotCount(row["lot_key"], row["signed"], row["drafts"]) for row in lots_alike(search)[: LOTS_LISTED + 1]]
    return lots[:LOTS_LISTED], len(lots) > LOTS_LISTED


def recall_csv_rows(recall: LotRecall) -> Iterator[list]:
    """The page's table as CSV rows, one per session, each with its patient's details (CSV_HEADER)."""
    for line in recall.patients:
        patient = [line.name, line.clinic_number, line.date_of_birth, line.phone, line.email, line.address]
        for session in line.sessions:
            yield [*patient, session.performed_on, session.condition, session.number, session.clinician,
                   session.lot_expiry]  # fmt: skip
