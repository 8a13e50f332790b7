"""Everything the FHIR export holds about a set of patients, read in a fixed number of queries.

`load_records(ids)` costs the same 17 queries for one patient or a thousand: each kind of row is read once for all
of them (`patient_id__in`) with only the columns the resources use, then grouped by patient in Python. The bulk
export calls it a chunk of patients at a time, so memory stays bounded by the chunk.

Rows are read as named tuples (`values_list(named=True)`), not model instances: the export reads hundreds of
thousands of rows and only ever looks at their values, and making a model instance costs several times the tuple.
A related row's columns come flattened under their own names (`nerve_code`, `condition_name`); the rows a row has
many of (a session's sites and adverse events, an assessment's activities, an intake's conditions and
medications) are looked up by the parent's id in the record's maps. Phone numbers come as the stored E.164 text.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, QuerySet, TextField
from django.db.models.functions import Cast

from accounts.models import User
from assessments.models import DN4_ITEMS, Assessment, FunctionalActivity
from documents.models import Document, DocumentStatus
from outcomes.models import PatientReport
from patients.models import Intake, IntakeCondition, Medication, Patient, PatientConsent
from portal.models import CheckIn
from safety.models import DelayedReaction
from scheduling.models import Appointment
from treatments.models import AdverseEvent, InjectionSession, InjectionSite, TreatmentCourse

Row = Any  # a named tuple of one query's columns (see each query for its names)


@dataclass
class PatientRecord:
    """One patient's rows, as the resources read them. Sessions are signed ones only: a draft is never exported.

    The maps (`sites`, `adverse_events`, `activities`, `users`, `memo`) are shared by every record of one load_records
    call and keyed by the parent row's id; `conditions` and `medications` are the intake's own."""

    patient: Row
    intake: Row | None
    conditions: list = field(default_factory=list)
    medications: list = field(default_factory=list)
    consents: list = field(default_factory=list)
    assessments: list = field(default_factory=list)
    courses: list = field(default_factory=list)
    sessions: list = field(default_factory=list)
    delayed_reactions: list = field(default_factory=list)
    check_ins: list = field(default_factory=list)
    reports: list = field(default_factory=list)
    appointments: list = field(default_factory=list)
    documents: list = field(default_factory=list)
    sites: dict[int, list] = field(default_factory=dict)
    adverse_events: dict[int, list] = field(default_factory=dict)
    activities: dict[int, list] = field(default_factory=dict)
    users: dict[int, Row] = field(default_factory=dict)
    # The pieces of resources that many rows share (a nerve and side's codings, a solution's ingredients), built
    # once per distinct value by interop.resources and shared by the records of one load_records call: it lives as
    # long as they do, never longer (no per-process memory of data).
    memo: dict = field(default_factory=dict)


def _rows(queryset: QuerySet, fields: Sequence[str], **flattened: str) -> QuerySet:
    """The queryset's rows as named tuples of `fields`, each of `flattened` a related column under its own name
    (`nerve_code="nerve__code"`)."""
    if flattened:
        queryset = queryset.annotate(**{name: F(path) for name, path in flattened.items()})
    return queryset.values_list(*fields, *flattened, named=True)


def _grouped(rows: Iterable, key: str = "patient_id") -> dict[int, list]:
    grouped: dict[int, list] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return grouped


PATIENT_FIELDS = (
    "id", "clinic_number", "given_name", "family_name", "preferred_name", "date_of_birth", "sex", "email",
    "address_line1", "address_line2", "town", "postcode", "emergency_contact_name",
    "emergency_contact_relationship", "user_id", "updated_at",
)  # fmt: skip
INTAKE_FIELDS = (
    "id", "patient_id", "other_condition", "allergy_amide_local_anaesthetic", "allergy_corn_dextrose",
    "other_allergies", "updated_at",
)  # fmt: skip
SESSION_FIELDS = (
    "id", "course_id", "number", "performed_at", "clinician_id", "pre_nrs", "post_nrs", "dextrose_percent", "diluent",
    "buffered", "additive", "additive_percent", "lot_number", "lot_expiry", "technique", "needle_gauge", "notes",
    "signed_at", "signed_by_id",
)  # fmt: skip


def _patients(ids: list[int]) -> QuerySet:
    # The phone numbers as their stored text: the model field would parse each into a PhoneNumber.
    patients = Patient.objects.filter(pk__in=ids).annotate(
        phone_text=Cast("phone", TextField()), emergency_contact_phone_text=Cast("emergency_contact_phone", TextField())
    )
    return patients.values_list(*PATIENT_FIELDS, "phone_text", "emergency_contact_phone_text", named=True)


def _sessions(ids: list[int]) -> list[Row]:
    sessions = InjectionSession.objects.filter(course__patient_id__in=ids, signed_at__isnull=False)
    return list(_rows(sessions.order_by("performed_at", "id"), SESSION_FIELDS, patient_id="course__patient_id"))


def _session_rows(ids: list[int]) -> tuple[dict[int, list], dict[int, list]]:
    """The signed sessions' sites (with their nerve) and adverse events (with their follow-up's status), by session."""
    sites = InjectionSite.objects.filter(session__course__patient_id__in=ids, session__signed_at__isnull=False)
    sites = _rows(
        sites.order_by("id"), ("id", "session_id", "side", "points", "volume_per_point_ml"),
        nerve_code="nerve__code", nerve_name="nerve__name",
    )  # fmt: skip
    events = AdverseEvent.objects.filter(session__course__patient_id__in=ids, session__signed_at__isnull=False)
    events = _rows(
        events.order_by("id"), ("id", "session_id", "kind", "severity", "note"), follow_up_status="follow_up__status"
    )
    return _grouped(sites, "session_id"), _grouped(events, "session_id")


def _intakes(ids: list[int]) -> tuple[dict[int, Row], dict[int, list], dict[int, list]]:
    """Each patient's intake, and its conditions and medications by intake."""
    intakes = {row.patient_id: row for row in Intake.objects.filter(patient_id__in=ids).values_list(
        *INTAKE_FIELDS, named=True
    )}  # fmt: skip
    conditions = _rows(
        IntakeCondition.objects.filter(intake__patient_id__in=ids).order_by("condition_id"),
        ("intake_id", "condition_id"), condition_code="condition__code", condition_name="condition__name",
    )  # fmt: skip
    medications = (
        Medication.objects.filter(intake__patient_id__in=ids)
        .order_by("-is_analgesic", "drug", "id")
        .values_list("id", "intake_id", "drug", "dose", "doses_per_week", named=True)
    )
    return intakes, _grouped(conditions, "intake_id"), _grouped(medications, "intake_id")


def _rows_by_patient(ids: list[int]) -> dict[str, dict[int, list]]:
    """Every other kind of row, one query each, grouped by patient."""
    assessment_fields = (
        "id", "patient_id", "course_id", "kind", "assessed_at", "clinician_id", "presenting_complaint", "side",
        "duration_months", "nrs_current", "nrs_worst", "nrs_average", "peg_pain", "peg_enjoyment", "peg_activity",
        "pgic", *(name for name, _ in DN4_ITEMS),
    )  # fmt: skip
    condition = {"condition_pk": "condition__id", "condition_code": "condition__code"}
    condition["condition_name"] = "condition__name"
    follow_up = {"follow_up_status": "follow_up__status"}
    return {
        "consents": _grouped(_rows(
            PatientConsent.objects.filter(patient_id__in=ids).order_by("signed_at", "id"),
            ("id", "patient_id", "signed_name", "signed_at", "signed_via", "witnessed_by_id", "signed_by_user_id",
             "withdrawn_at", "withdrawn_via", "withdrawal_reason"),
            text_version="consent_text__version", text_title="consent_text__title",
        )),
        "assessments": _grouped(_rows(
            Assessment.objects.filter(patient_id__in=ids).order_by("assessed_at", "id"), assessment_fields, **condition
        )),
        "courses": _grouped(_rows(
            TreatmentCourse.objects.filter(patient_id__in=ids).order_by("started_on", "id"),
            ("id", "patient_id", "status", "started_on", "closed_on", "final_pgic"), **condition,
        )),
        "delayed_reactions": _grouped(_rows(
            DelayedReaction.objects.filter(patient_id__in=ids, session__signed_at__isnull=False)
            .order_by("reported_at", "id"),
            ("id", "patient_id", "session_id", "kind", "severity", "description", "reported_at", "reported_by_id"),
            **follow_up,
        )),
        "check_ins": _grouped(
            CheckIn.objects.filter(patient_id__in=ids).order_by("submitted_at", "id").values_list(
                "id", "patient_id", "appointment_id", "nrs_now", "peg_pain", "peg_enjoyment", "peg_activity",
                "analgesic_doses_per_week", "new_infection", "new_medication", "new_medication_details",
                "new_blood_thinner", "pregnant", "new_allergy", "new_allergy_details", "submitted_at", named=True,
            )
        ),
        "reports": _grouped(
            PatientReport.objects.filter(patient_id__in=ids).order_by("submitted_at", "id").values_list(
                "id", "patient_id", "course_id", "nrs_now", "nrs_average", "peg_enjoyment", "peg_activity", "pgic",
                "further_treatment", "submitted_at", named=True,
            )
        ),
        "appointments": _grouped(_rows(
            Appointment.objects.filter(patient_id__in=ids).order_by("starts_at", "id"),
            ("id", "patient_id", "clinician_id", "starts_at", "ends_at", "status", "cancel_reason", "session_id"),
            type_name="appointment_type__name",
        )),
    }  # fmt: skip


def _documents(ids: list[int], signed: set[int]) -> dict[int, list]:
    """The ready documents of the signed sessions (`signed`, their ids), by patient. Which sessions are signed is
    checked here rather than by a join in the query: joined, PostgreSQL reads every session of the clinic."""
    documents = (
        Document.objects.filter(patient_id__in=ids, status=DocumentStatus.READY, session__isnull=False)
        .order_by("ready_at", "id")
        .values_list(
            "id", "patient_id", "session_id", "kind", "version", "superseded_at", "file_name", "sha256",
            "size_bytes", "ready_at", named=True,
        )
    )  # fmt: skip
    return _grouped(document for document in documents if document.session_id in signed)


def _user_ids(rows: dict[str, dict[int, list]], sessions: list[Row]) -> set[int]:
    """The staff and patient accounts the rows name: clinicians, signers, witnesses, reporters."""
    ids: set[int | None] = set()
    for session in sessions:
        ids.update((session.clinician_id, session.signed_by_id))
    for name, attributes in (
        ("consents", ("witnessed_by_id", "signed_by_user_id")),
        ("assessments", ("clinician_id",)),
        ("appointments", ("clinician_id",)),
        ("delayed_reactions", ("reported_by_id",)),
    ):
        for group in rows[name].values():
            ids.update(getattr(row, attribute) for row in group for attribute in attributes)
    return {pk for pk in ids if pk is not None}


def load_records(patient_ids: Iterable[int]) -> list[PatientRecord]:
    """The records of the patients with these ids (missing ids are skipped), in the order given."""
    ids = list(dict.fromkeys(patient_ids))
    patients = {patient.id: patient for patient in _patients(ids)}
    intakes, conditions, medications = _intakes(ids)
    sessions = _sessions(ids)
    sites, adverse_events = _session_rows(ids)
    activities = _grouped(
        FunctionalActivity.objects.filter(assessment__patient_id__in=ids)
        .order_by("id")
        .values_list("id", "assessment_id", "activity", "score", named=True),
        "assessment_id",
    )
    rows = _rows_by_patient(ids)
    rows["documents"] = _documents(ids, {session.id for session in sessions})
    users = User.objects.filter(pk__in=_user_ids(rows, sessions)).values_list(
        "id", "first_name", "last_name", "username", named=True
    )
    users_by_id = {user.id: user for user in users}
    sessions_by_patient = _grouped(sessions)
    records: list[PatientRecord] = []
    memo: dict = {}
    for pk in ids:
        if pk not in patients:
            continue
        intake = intakes.get(pk)
        records.append(
            PatientRecord(
                patient=patients[pk],
                intake=intake,
                conditions=conditions.get(intake.id, []) if intake else [],
                medications=medications.get(intake.id, []) if intake else [],
                sessions=sessions_by_patient.get(pk, []),
                sites=sites,
                adverse_events=adverse_events,
                activities=activities,
                users=users_by_id,
                memo=memo,
                **{name: grouped.get(pk, []) for name, grouped in rows.items()},
            )
        )
    return records
