"""One patient's change history: every recorded insert, update and delete of the patient and of the
rows that belong to them, newest first, in a fixed number of queries whatever its length.

Rows are found through the event tables themselves (an assessment's pain areas through every
assessment that ever belonged to the patient), so deleted rows keep their place in the history.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps
from django.core.paginator import Page, Paginator
from django.db import models
from django.db.models import CharField, F, Func, JSONField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Cast, Concat, JSONObject
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format
from django.utils.text import capfirst

from accounts.models import User
from assessments.models import AnalgesicUse, Assessment, ContributingNerve, FunctionalActivity, Nerve, PainArea
from documents.models import Document
from patients.models import Condition, ConsentText, Intake, IntakeCondition, Medication, Patient, PatientConsent
from pit_portal.history import WRITE_LABELS
from safety.models import AdverseEventFollowUp, DelayedReaction
from scheduling.models import Appointment, AppointmentType
from treatments.models import AdverseEvent, InjectionSession, InjectionSite, SessionAddendum, TreatmentCourse

EVENTS_PER_PAGE = 50
NO_VALUE = "—"

# Reference rows a foreign key is shown by, instead of a bare id: one query per kind on a page.
NAMED_BY = {User: "username", Condition: "name", Nerve: "name", AppointmentType: "name", ConsentText: "version"}


@dataclass(frozen=True)
class Kind:
    """A kind of record in the history. `read`: the permission to read such records on their own pages, which
    their history obeys too (a manager, who may not open session notes, sees none of their changes either).
    `url_name`: the page a record opens on ("": none), with `pk_from` the snapshot field holding the pk to open
    (None: the patient's own page, linked only for those who may open it)."""

    read: str
    url_name: str = ""
    pk_from: str | None = None


KINDS: dict[type[models.Model], Kind] = {
    Patient: Kind("patients.view_patient", "patients:detail"),
    Intake: Kind("patients.view_intake", "patients:detail"),
    IntakeCondition: Kind("patients.view_intake", "patients:detail"),
    Medication: Kind("patients.view_intake", "patients:detail"),
    PatientConsent: Kind("patients.view_patientconsent", "patients:detail"),
    Assessment: Kind("assessments.view_assessment", "assessments:detail", "id"),
    PainArea: Kind("assessments.view_assessment", "assessments:detail", "assessment_id"),
    FunctionalActivity: Kind("assessments.view_assessment", "assessments:detail", "assessment_id"),
    AnalgesicUse: Kind("assessments.view_assessment", "assessments:detail", "assessment_id"),
    ContributingNerve: Kind("assessments.view_assessment", "assessments:detail", "assessment_id"),
    TreatmentCourse: Kind("treatments.view_treatmentcourse", "treatments:course", "id"),
    InjectionSession: Kind("treatments.view_injectionsession", "treatments:session", "id"),
    InjectionSite: Kind("treatments.view_injectionsession", "treatments:session", "session_id"),
    AdverseEvent: Kind("treatments.view_injectionsession", "treatments:session", "session_id"),
    SessionAddendum: Kind("treatments.view_injectionsession", "treatments:session", "session_id"),
    DelayedReaction: Kind("treatments.view_injectionsession", "treatments:session", "session_id"),
    AdverseEventFollowUp: Kind("treatments.view_injectionsession"),
    Appointment: Kind("scheduling.view_appointment", "scheduling:appointment", "id"),
    Document: Kind("documents.view_document"),
}


def _events(model: type[models.Model]) -> type[models.Model]:
    """The model's history table, which pghistory's track() attaches to the class at run time."""
    return model.pgh_event_model  # type: ignore[attr-defined]  # set by pghistory, out of a type checker's sight


def _ever(model: type[models.Model], **lookups) -> models.QuerySet:
    """Ids of `model` rows whose recorded history ever matched the lookups, deleted rows included."""
    return _events(model)._default_manager.filter(**lookups).values("pgh_obj_id")


def patient_scopes(patient_pk: int) -> dict[type[models.Model], Q]:
    """For each tracked model, which of its events concern this patient."""
    intakes = _ever(Intake, patient_id=patient_pk)
    assessments = _ever(Assessment, patient_id=patient_pk)
    courses = _ever(TreatmentCourse, patient_id=patient_pk)
    sessions = _ever(InjectionSession, course_id__in=courses)
    adverse_events = _ever(AdverseEvent, session_id__in=sessions)
    reactions = _ever(DelayedReaction, patient_id=patient_pk)
    return {
        Patient: Q(pgh_obj_id=patient_pk),
        Intake: Q(patient_id=patient_pk),
        IntakeCondition: Q(intake_id__in=intakes),
        Medication: Q(intake_id__in=intakes),
        PatientConsent: Q(patient_id=patient_pk),
        Assessment: Q(patient_id=patient_pk),
        PainArea: Q(assessment_id__in=assessments),
        FunctionalActivity: Q(assessment_id__in=assessments),
        AnalgesicUse: Q(assessment_id__in=assessments),
        ContributingNerve: Q(assessment_id__in=assessments),
        TreatmentCourse: Q(patient_id=patient_pk),
        InjectionSession: Q(course_id__in=courses),
        InjectionSite: Q(session_id__in=sessions),
        AdverseEvent: Q(session_id__in=sessions),
        SessionAddendum: Q(session_id__in=sessions),
        DelayedReaction: Q(patient_id=patient_pk),
        AdverseEventFollowUp: Q(adverse_event_id__in=adverse_events) | Q(delayed_reaction_id__in=reactions),
        Appointment: Q(patient_id=patient_pk),
        Document: Q(patient_id=patient_pk),
    }


def _snapshot(model: type[models.Model]) -> JSONObject:
    """The recorded row as JSON, keyed by attname (patient_id, not patient)."""
    return JSONObject(**{f.attname: F(f.attname) for f in model._meta.concrete_fields})


def _keys(model: type[models.Model], scope: Q) -> models.QuerySet:
    """Just enough of each event to count, order and page them (baseline snapshots are not events)."""
    return (
        _events(model)
        ._default_manager.filter(scope, pgh_label__in=WRITE_LABELS)
        .annotate(record_type=Value(model._meta.label, output_field=CharField()))
        .values("record_type", "pgh_id", "pgh_created_at")
    )


def _details(model: type[models.Model], event_ids: Iterable[int]) -> models.QuerySet:
    """The chosen events in full: the row as recorded, the same row's previous record, the context."""
    event_model = _events(model)
    previous = (
        event_model._default_manager.filter(pgh_obj_id=OuterRef("pgh_obj_id"), pgh_id__lt=OuterRef("pgh_id"))
        .order_by("-pgh_id")
        .values(snapshot=_snapshot(model))[:1]
    )
    return (
        event_model._default_manager.filter(pgh_id__in=list(event_ids))
        .annotate(
            record_type=Value(model._meta.label, output_field=CharField()),
            snapshot=_snapshot(model),
            previous=Subquery(previous, output_field=JSONField()),
            context=F("pgh_context__metadata"),
        )
        .values("record_type", "pgh_id", "pgh_label", "pgh_obj_id", "snapshot", "previous", "context")
    )


def _union(querysets: list[models.QuerySet]) -> models.QuerySet:
    first, *rest = querysets
    return first.union(*rest, all=True) if rest else first


class _Timeline:
    """What Paginator needs: a count, and a slice that becomes the page's entries. The count and the
    page's keys come from lean queries; only the page's events are read in full. Only the kinds of record
    `user` may read on their own pages are included, described for them (links only to pages they may open)."""

    def __init__(self, patient: Patient, user: User):
        self.patient, self.user = patient, user
        readable = [
            _keys(model, scope)
            for model, scope in patient_scopes(patient.pk).items()
            if user.has_perm(KINDS[model].read)
        ]
        # Events of one transaction share its time; within a table the id keeps them in order.
        self.keys = _union(readable).order_by("-pgh_created_at", "-pgh_id", "record_type")

    def count(self) -> int:
        return self.keys.count()

    def __getitem__(self, window: slice) -> list:
        page_keys = list(self.keys[window])
        ids_by_type: dict[str, list[int]] = {}
        for key in page_keys:
            ids_by_type.setdefault(key["record_type"], []).append(key["pgh_id"])
        if not ids_by_type:
            return []
        rows = _union([_details(apps.get_model(label), ids) for label, ids in ids_by_type.items()])
        by_key = {(row["record_type"], row["pgh_id"]): row for row in rows}
        ordered = [by_key[key["record_type"], key["pgh_id"]] | key for key in page_keys]
        names = _reference_names(ordered)
        return [_entry(row, self.patient, self.user, names) for row in ordered]


@dataclass
class Change:
    label: str
    old: str
    new: str


@dataclass
class Entry:
    """One line of the History tab."""

    when: datetime
    action: str
    who: str
    via: str
    record: str
    url: str = ""
    changes: list[Change] = field(default_factory=list)
    values: list[tuple[str, str]] = field(default_factory=list)
    earlier_unknown: bool = False


def history_page(patient: Patient, user: User, page_number) -> Page:
    """A page of the patient's history, newest first: only the records `user` may read, described for them
    (links only to pages they may open)."""
    # Paginator needs only count() and slices, which _Timeline gives; the stub asks for a whole sequence.
    return Paginator(_Timeline(patient, user), EVENTS_PER_PAGE).get_page(page_number)  # type: ignore[arg-type]


def _shown_fields(model: type[models.Model]) -> list[models.Field]:
    # auto_now timestamps change on every save: the event's own time says when.
    return [f for f in model._meta.concrete_fields if not getattr(f, "auto_now", False)]


def _entry(row: dict, patient: Patient, user: User, names: dict) -> Entry:
    model = apps.get_model(row["record_type"])
    snapshot, previous = row["snapshot"], row["previous"]
    who, via = _actor(row["context"], names)
    entry = Entry(
        when=row["pgh_created_at"],
        action=row["pgh_label"],
        who=who,
        via=via,
        record=f"{capfirst(model._meta.verbose_name)} #{row['pgh_obj_id']}",
        url=_link(model, row, patient, user),
    )
    fields = _shown_fields(model)
    if row["pgh_label"] == "update" and previous is not None:
        entry.changes = [
            Change(_label(f), _shown(f, previous.get(f.attname), names), _shown(f, snapshot.get(f.attname), names))
            for f in fields
            if previous.get(f.attname) != snapshot.get(f.attname)
        ]
    else:
        # An insert or delete shows the row as it was; so does an update with no earlier record to compare.
        entry.earlier_unknown = row["pgh_label"] == "update"
        entry.values = [
            (_label(f), _shown(f, snapshot.get(f.attname), names))
            for f in fields
            if not f.primary_key and snapshot.get(f.attname) not in (None, "")
        ]
    return entry


def _actor(context: dict | None, names: dict) -> tuple[str, str]:
    """Who made the change, and through what (a page's path, a task)."""
    if not context:
        # No application context: raw SQL from outside the app (psql, a migration).
        return "database", ""
    if context.get("task"):
        return "system", f"task {context['task']}"
    if context.get("command"):
        return "system", f"command {context['command']}"
    user_id = context.get("user")
    who = names.get((User, user_id), f"user #{user_id}") if user_id is not None else "not signed in"
    return who, context.get("url", "")


def _link(model: type[models.Model], row: dict, patient: Patient, user: User) -> str:
    """The page the record opens on: `user` reads only records they may read, so may open their own pages."""
    kind = KINDS[model]
    if not kind.url_name:
        return ""
    if kind.pk_from is None:
        return reverse(kind.url_name, args=[patient.pk]) if user.has_perm("patients.view_patient") else ""
    if kind.pk_from == "id" and row["pgh_label"] == "delete":
        return ""  # the record itself is gone
    pk = row["snapshot"].get(kind.pk_from)
    return reverse(kind.url_name, args=[pk]) if pk is not None else ""


def _label(model_field: models.Field) -> str:
    return str(capfirst(model_field.verbose_name))


def _shown(model_field: models.Field, value, names: dict) -> str:
    """A recorded value as staff read it: choice labels, yes/no, local dates, named references."""
    if value is None or value == "":
        return NO_VALUE
    if model_field.is_relation:
        return str(names.get((model_field.related_model, value), f"#{value}"))
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(model_field, models.BooleanField):
        return "yes" if value else "no"
    if isinstance(model_field, models.DateTimeField):
        moment = parse_datetime(value)
        return date_format(timezone.localtime(moment), "d/m/Y H:i") if moment else str(value)
    if isinstance(model_field, models.DateField):
        day = parse_date(value)
        return date_format(day, "d/m/Y") if day else str(value)
    return str(value)


def _reference_names(rows: list[dict]) -> dict:
    """(model, pk) -> name for the users and reference rows the page mentions, in one query."""
    wanted: dict[type[models.Model], set] = {model: set() for model in NAMED_BY}
    for row in rows:
        if row["context"] and row["context"].get("user") is not None:
            wanted[User].add(row["context"]["user"])
        for f in apps.get_model(row["record_type"])._meta.concrete_fields:
            if f.is_relation and f.related_model in wanted:
                for snapshot in (row["snapshot"], row["previous"] or {}):
                    if snapshot.get(f.attname) is not None:
                        wanted[f.related_model].add(snapshot[f.attname])
    lookups = [_names_of(model, pks) for model, pks in wanted.items() if pks]
    if not lookups:
        return {}
    kinds = {model._meta.label: model for model in NAMED_BY}
    return {(kinds[kind], pk): name for kind, pk, name in _union(lookups)}


def _names_of(model: type[models.Model], pks: set) -> models.QuerySet:
    name: Func = Cast(NAMED_BY[model], output_field=CharField())
    if model is ConsentText:
        name = Concat(Value("version "), name)
    return (
        model._default_manager.filter(pk__in=pks)
        .annotate(reference_kind=Value(model._meta.label, output_field=CharField()), reference_name=name)
        .values_list("reference_kind", "pk", "reference_name")
    )
