"""One patient's record as FHIR R4 (R4B models) resources: plain JSON-ready dicts, built without pydantic so the
bulk export stays fast; `interop.bundle` validates them through the library.

Every id is the row's kind and primary key ("session-12"), stable between exports and unique across patients, so a
bulk export's NDJSON files can be concatenated. Every reference is "Type/id" to a resource this function yields,
except Questionnaires and Practitioners, which are shared: each patient's resources include the ones they refer
to (a bulk export keeps the first of each id).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import phonenumbers
from django.conf import settings

from assessments.models import DN4_ITEMS, Side
from assessments.models import PGIC as PGICChoice
from documents.models import DocumentKind
from interop import codes
from interop.codes import concept
from interop.records import PatientRecord, Row
from patients.models import Sex
from treatments.models import Additive, AdverseEventKind, Diluent

GENDER: dict[str, str] = {Sex.FEMALE: "female", Sex.MALE: "male", Sex.OTHER: "other", Sex.UNKNOWN: "unknown"}
APPOINTMENT_STATUS = {
    "booked": "booked",
    "arrived": "arrived",
    "in_treatment": "checked-in",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
}
# safety.FollowUpStatus -> http://terminology.hl7.org/CodeSystem/adverse-event-outcome
FOLLOW_UP_OUTCOME = {"resolved": "resolved", "referred": "ongoing", "open": "ongoing"}
SURVEY = {
    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}],
}

# The three questionnaires the clinic asks, by the linkIds of their answers.
QUESTIONNAIRES = {
    "pit-assessment": (
        "Pain assessment",
        [
            ("complaint", "Presenting complaint", "text"),
            ("condition", "Condition", "string"),
            ("side", "Side", "string"),
            ("nrs-now", "Pain now (0-10)", "integer"),
            ("nrs-worst", "Worst pain, last week (0-10)", "integer"),
            ("nrs-average", "Average pain, last week (0-10)", "integer"),
            ("peg-enjoyment", "Pain interfered with enjoyment of life (0-10)", "integer"),
            ("peg-activity", "Pain interfered with general activity (0-10)", "integer"),
            *((name, wording, "boolean") for name, wording in DN4_ITEMS),
            ("psfs", "Activities the pain limits, each scored 0-10", "string"),
            ("pgic", "Impression of change (1-7)", "integer"),
        ],
    ),
    "pit-check-in": (
        "Check-in before a session",
        [
            ("nrs-now", "Pain now (0-10)", "integer"),
            ("peg-pain", "Average pain, past week (0-10)", "integer"),
            ("peg-enjoyment", "Pain interfered with enjoyment of life (0-10)", "integer"),
            ("peg-activity", "Pain interfered with general activity (0-10)", "integer"),
            ("analgesic-doses", "Pain medication doses in the past week", "decimal"),
            ("new-infection", "An infection, wound or rash near the treated area", "boolean"),
            ("new-medication", "Which new medication, if any", "string"),
            ("new-blood-thinner", "A new blood thinner", "boolean"),
            ("pregnant", "Pregnant or breastfeeding", "boolean"),
            ("new-allergy", "What the new allergy is to, if any", "string"),
        ],
    ),
    "pit-between-visits": (
        "Between-visit questions",
        [
            ("nrs-now", "Pain now (0-10)", "integer"),
            ("nrs-average", "Average pain, past week (0-10)", "integer"),
            ("peg-enjoyment", "Pain interfered with enjoyment of life (0-10)", "integer"),
            ("peg-activity", "Pain interfered with general activity (0-10)", "integer"),
            ("pgic", "Impression of change (1-7)", "integer"),
            ("further-treatment", "Needed further treatment", "boolean"),
        ],
    ),
}


def ref(kind: str, id_: str) -> dict:
    return {"reference": f"{kind}/{id_}"}


def instant(moment: datetime) -> str:
    return moment.isoformat()


def day(value: date) -> str:
    return value.isoformat()


def number(value: Decimal) -> float | int:
    normalised = value.normalize()
    return int(normalised) if normalised == normalised.to_integral() else float(normalised)


# The labels of the choices the rows hold as values (fixed reference values, not data).
SIDE_LABEL = dict(Side.choices)
DOCUMENT_KIND_LABEL = dict(DocumentKind.choices)


def phone_text(stored: str | None) -> str:
    """A stored phone number (E.164 text) as the portal shows it (PHONENUMBER_DEFAULT_FORMAT, international): what
    phonenumber_field's PhoneNumber gives as str(), parsed once; a number that is not valid stays as stored."""
    if not stored:
        return ""
    try:
        number = phonenumbers.parse(stored, settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return stored
    if not phonenumbers.is_valid_number(number):
        return stored
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def patient_resources(record: PatientRecord) -> Iterator[dict]:
    """Every resource of the patient's record, the Patient first."""
    pid = f"patient-{record.patient.id}"
    yield patient_resource(record)
    yield from practitioners(record)
    yield from questionnaires(record)
    yield from conditions(record, pid)
    yield from allergies(record, pid)
    yield from medications(record, pid)
    yield from consents(record, pid)
    for assessment in record.assessments:
        yield from assessment_resources(assessment, record.activities.get(assessment.id, []), pid)
    for course in record.courses:
        if course.final_pgic is not None:
            yield pgic_observation(f"course-{course.id}-pgic", pid, course.closed_on.isoformat(), course.final_pgic)
    for session in record.sessions:
        yield from session_resources(record, session, pid)
    yield from delayed_reactions(record, pid)
    for check_in in record.check_ins:
        yield from check_in_resources(check_in, pid)
    for report in record.reports:
        yield from report_resources(report, pid)
    yield from appointments(record, pid)
    yield from documents(record, pid)


def patient_resource(record: PatientRecord) -> dict:
    patient = record.patient
    names = [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}]
    if patient.preferred_name:
        names.append({"use": "usual", "given": [patient.preferred_name], "family": patient.family_name})
    resource: dict = {
        "resourceType": "Patient",
        "id": f"patient-{patient.id}",
        "identifier": [{"system": codes.CLINIC_NUMBER, "value": patient.clinic_number}],
        "name": names,
        "gender": GENDER.get(patient.sex, "unknown"),
        "birthDate": day(patient.date_of_birth),
    }
    telecom = []
    if phone := phone_text(patient.phone_text):
        telecom.append({"system": "phone", "value": phone})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    if telecom:
        resource["telecom"] = telecom
    lines = [line for line in (patient.address_line1, patient.address_line2) if line]
    if lines or patient.town or patient.postcode:
        address = {"line": lines, "city": patient.town, "postalCode": patient.postcode}
        resource["address"] = [{key: value for key, value in address.items() if value}]
    if patient.emergency_contact_name:
        contact: dict = {"name": {"text": patient.emergency_contact_name}}
        if patient.emergency_contact_relationship:
            contact["relationship"] = [{"text": patient.emergency_contact_relationship}]
        if emergency_phone := phone_text(patient.emergency_contact_phone_text):
            contact["telecom"] = [{"system": "phone", "value": emergency_phone}]
        resource["contact"] = [contact]
    return resource


def _referenced_staff(record: PatientRecord) -> set[int]:
    patient_user = record.patient.user_id
    ids = {session.clinician_id for session in record.sessions}
    ids |= {session.signed_by_id for session in record.sessions}
    ids |= {assessment.clinician_id for assessment in record.assessments}
    ids |= {appointment.clinician_id for appointment in record.appointments}
    ids |= {consent.witnessed_by_id for consent in record.consents}
    ids |= {reaction.reported_by_id for reaction in record.delayed_reactions}
    return {pk for pk in ids if pk is not None and pk != patient_user and pk in record.users}


def practitioners(record: PatientRecord) -> Iterator[dict]:
    """The staff the record names, by name only: no contact details leave with a patient's record."""
    for pk in sorted(_referenced_staff(record)):
        user = record.users[pk]
        name = {"family": user.last_name, "given": [user.first_name]} if user.last_name else {"text": user.username}
        yield {"resourceType": "Practitioner", "id": f"practitioner-{pk}", "name": [name]}


def person(record: PatientRecord, user_id: int | None, pid: str) -> dict | None:
    """A reference to whoever a user id is in this record: the patient themselves, or a member of staff."""
    if user_id is None:
        return None
    if user_id == record.patient.user_id:
        return ref("Patient", pid)
    return ref("Practitioner", f"practitioner-{user_id}")


def questionnaire(key: str) -> dict:
    """One of the clinic's fixed questionnaires (QUESTIONNAIRES) as a Questionnaire resource."""
    title, items = QUESTIONNAIRES[key]
    return {
        "resourceType": "Questionnaire",
        "id": key,
        "url": f"{codes.QUESTIONNAIRE_BASE}/{key}",
        "title": title,
        "status": "active",
        "subjectType": ["Patient"],
        "item": [{"linkId": link, "text": text, "type": kind} for link, text, kind in items],
    }


def questionnaires(record: PatientRecord) -> Iterator[dict]:
    used = {
        "pit-assessment": bool(record.assessments),
        "pit-check-in": bool(record.check_ins),
        "pit-between-visits": bool(record.reports),
    }
    for key in QUESTIONNAIRES:
        if used[key]:
            yield questionnaire(key)


def _condition(pid: str, id_: str, coding: dict | None, text: str) -> dict:
    code: dict = {"text": text}
    if coding:
        code["coding"] = [coding]
    return {
        "resourceType": "Condition",
        "id": id_,
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "code": code,
        "subject": ref("Patient", pid),
    }


def condition_id(patient_pk: int, condition_pk: int) -> str:
    return f"condition-{patient_pk}-{condition_pk}"


def conditions(record: PatientRecord, pid: str) -> Iterator[dict]:
    """The conditions treated: those the medical background ticks and those of each course and assessment."""
    found = {row.condition_id: (row.condition_code, row.condition_name) for row in record.conditions}
    found.update({row.condition_pk: (row.condition_code, row.condition_name) for row in record.courses})
    found.update({row.condition_pk: (row.condition_code, row.condition_name) for row in record.assessments})
    for pk, (code, name) in sorted(found.items()):
        coding = {"system": codes.CONDITION, "code": code, "display": name}
        yield _condition(pid, condition_id(record.patient.id, pk), coding, name)
    if record.intake is not None and record.intake.other_condition:
        yield _condition(pid, f"condition-{record.patient.id}-other", None, record.intake.other_condition)


def allergies(record: PatientRecord, pid: str) -> Iterator[dict]:
    intake = record.intake
    if intake is None:
        return
    known = [
        (
            intake.allergy_amide_local_anaesthetic,
            "amide-local-anaesthetic",
            "Amide local anaesthetics (e.g. lidocaine)",
        ),
        (intake.allergy_corn_dextrose, "corn-dextrose", "Corn or dextrose"),
    ]
    entries = [
        (key, {"coding": [{"system": codes.ALLERGY, "code": key, "display": text}], "text": text})
        for applies, key, text in known
        if applies
    ]
    if intake.other_allergies:
        entries.append(("other", {"text": intake.other_allergies}))
    for key, code in entries:
        yield {
            "resourceType": "AllergyIntolerance",
            "id": f"allergy-{record.patient.id}-{key}",
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}
                ]
            },
            "code": code,
            "patient": ref("Patient", pid),
            "recordedDate": instant(intake.updated_at),
        }


def medications(record: PatientRecord, pid: str) -> Iterator[dict]:
    if record.intake is None:
        return
    for medication in record.medications:
        dose = f"{medication.dose}, {number(medication.doses_per_week)} doses a week"
        yield {
            "resourceType": "MedicationStatement",
            "id": f"medication-{medication.id}",
            "status": "active",
            "medicationCodeableConcept": {"text": medication.drug},
            "subject": ref("Patient", pid),
            "dateAsserted": instant(record.intake.updated_at),
            "dosage": [{"text": dose}],
        }


def consents(record: PatientRecord, pid: str) -> Iterator[dict]:
    """Each consent signed, with the version of the text signed, who signed it (the patient), the witness at the
    desk (an extension: R4's Consent has no witness) and, once withdrawn, its end and reason."""
    for consent in record.consents:
        withdrawn = consent.withdrawn_at is not None
        period = {"start": instant(consent.signed_at)} | ({"end": instant(consent.withdrawn_at)} if withdrawn else {})
        extensions = [{"url": codes.EXT_SIGNED_VIA, "valueCode": consent.signed_via}]
        if consent.witnessed_by_id is not None:
            extensions.append(
                {"url": codes.EXT_WITNESS, "valueReference": person(record, consent.witnessed_by_id, pid)}
            )
        if withdrawn and consent.withdrawal_reason:
            extensions.append({"url": codes.EXT_WITHDRAWAL_REASON, "valueString": consent.withdrawal_reason})
        yield {
            "resourceType": "Consent",
            "id": f"consent-{consent.id}",
            "extension": extensions,
            "status": "inactive" if withdrawn else "active",
            "scope": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}]
            },
            "category": [{"coding": [{"system": codes.LOINC, "code": "59284-0"}], "text": "Consent to treatment"}],
            "patient": ref("Patient", pid),
            "dateTime": instant(consent.signed_at),
            "performer": [ref("Patient", pid) | {"display": consent.signed_name}],
            "policy": [{"uri": f"{codes.CONSENT_TEXT}/{consent.text_version}"}],
            "policyRule": {"text": f"{consent.text_title}, version {consent.text_version}"},
            "provision": {"type": "permit", "period": period},
        }


def _observation(id_: str, pid: str, when: str, code: dict, value: dict, derived_from: str | None = None) -> dict:
    observation = {
        "resourceType": "Observation",
        "id": id_,
        "status": "final",
        "category": [SURVEY],
        "code": code,
        "subject": ref("Patient", pid),
        "effectiveDateTime": when,
        **value,
    }
    if derived_from:
        observation["derivedFrom"] = [ref("QuestionnaireResponse", derived_from)]
    return observation


def score(value: int | Decimal) -> dict:
    if isinstance(value, int):
        return {"valueInteger": value}
    return {"valueQuantity": {"value": number(value), "unit": "{score}", "system": codes.UCUM, "code": "{score}"}}


def peg_observation(id_: str, pid: str, when: str, items: tuple[int, int, int], derived_from: str) -> dict:
    pain, enjoyment, activity = items
    mean = (Decimal(pain + enjoyment + activity) / 3).quantize(Decimal("0.1"))
    observation = _observation(id_, pid, when, concept(codes.PEG_SCORE), score(mean), derived_from)
    observation["component"] = [
        {"code": concept(code), "valueInteger": value}
        for code, value in (
            (codes.PEG_AVERAGE_PAIN, pain),
            (codes.PEG_ENJOYMENT, enjoyment),
            (codes.PEG_ACTIVITY, activity),
        )
    ]
    return observation


def pgic_observation(id_: str, pid: str, when: str, value: int, derived_from: str | None = None) -> dict:
    label = PGICChoice(value).label
    answer = {"coding": [{"system": codes.PGIC_SYSTEM, "code": str(value), "display": label}], "text": label}
    return _observation(id_, pid, when, concept(codes.PGIC), {"valueCodeableConcept": answer}, derived_from)


def _answer(link: str, value) -> dict | None:
    if value is None or value == "":
        return None
    typed: dict
    if isinstance(value, bool):
        typed = {"valueBoolean": value}
    elif isinstance(value, int):
        typed = {"valueInteger": value}
    elif isinstance(value, Decimal):
        typed = {"valueDecimal": number(value)}
    else:
        typed = {"valueString": str(value)}
    return {"linkId": link, "answer": [typed]}


def questionnaire_response(id_: str, key: str, pid: str, when: str, answers: list, author: dict | None) -> dict:
    response = {
        "resourceType": "QuestionnaireResponse",
        "id": id_,
        "questionnaire": f"{codes.QUESTIONNAIRE_BASE}/{key}",
        "status": "completed",
        "subject": ref("Patient", pid),
        "authored": when,
        "item": [item for link, value in answers if (item := _answer(link, value)) is not None],
    }
    if author:
        response["author"] = author
    return response


def assessment_resources(assessment: Row, activities: list[Row], pid: str) -> Iterator[dict]:
    qr, when = f"assessment-{assessment.id}", instant(assessment.assessed_at)
    dn4 = sum(bool(getattr(assessment, name)) for name, _ in DN4_ITEMS)
    answers = [
        ("complaint", assessment.presenting_complaint),
        ("condition", assessment.condition_name),
        ("side", SIDE_LABEL.get(assessment.side, assessment.side)),
        ("nrs-now", assessment.nrs_current),
        ("nrs-worst", assessment.nrs_worst),
        ("nrs-average", assessment.nrs_average),
        ("peg-enjoyment", assessment.peg_enjoyment),
        ("peg-activity", assessment.peg_activity),
        *((name, bool(getattr(assessment, name))) for name, _ in DN4_ITEMS),
        ("psfs", "; ".join(f"{activity.activity}: {activity.score}" for activity in activities)),
        ("pgic", assessment.pgic),
    ]
    author = ref("Practitioner", f"practitioner-{assessment.clinician_id}")
    yield questionnaire_response(qr, "pit-assessment", pid, when, answers, author)
    yield _observation(f"{qr}-nrs-now", pid, when, concept(codes.NRS_NOW), score(assessment.nrs_current), qr)
    yield _observation(f"{qr}-nrs-worst", pid, when, concept(codes.NRS_WORST), score(assessment.nrs_worst), qr)
    items = (assessment.peg_pain, assessment.peg_enjoyment, assessment.peg_activity)
    yield peg_observation(f"{qr}-peg", pid, when, items, qr)
    yield _observation(f"{qr}-dn4", pid, when, concept(codes.DN4_SCORE), score(dn4), qr)
    if activities:
        mean = (Decimal(sum(activity.score for activity in activities)) / len(activities)).quantize(Decimal("0.1"))
        psfs = _observation(f"{qr}-psfs", pid, when, concept(codes.PSFS_SCORE), score(mean), qr)
        psfs["component"] = [
            {"code": concept(codes.PSFS_ACTIVITY, activity.activity), "valueInteger": activity.score}
            for activity in activities
        ]
        yield psfs
    if assessment.pgic is not None:
        yield pgic_observation(f"{qr}-pgic", pid, when, assessment.pgic, qr)


def check_in_resources(check_in, pid: str) -> Iterator[dict]:
    qr, when = f"check-in-{check_in.id}", instant(check_in.submitted_at)
    answers = [
        ("nrs-now", check_in.nrs_now),
        ("peg-pain", check_in.peg_pain),
        ("peg-enjoyment", check_in.peg_enjoyment),
        ("peg-activity", check_in.peg_activity),
        ("analgesic-doses", check_in.analgesic_doses_per_week),
        ("new-infection", check_in.new_infection),
        ("new-medication", check_in.new_medication_details if check_in.new_medication else ""),
        ("new-blood-thinner", check_in.new_blood_thinner),
        ("pregnant", check_in.pregnant),
        ("new-allergy", check_in.new_allergy_details if check_in.new_allergy else ""),
    ]
    yield questionnaire_response(qr, "pit-check-in", pid, when, answers, ref("Patient", pid))
    yield _observation(f"{qr}-nrs-now", pid, when, concept(codes.NRS_NOW), score(check_in.nrs_now), qr)
    items = (check_in.peg_pain, check_in.peg_enjoyment, check_in.peg_activity)
    yield peg_observation(f"{qr}-peg", pid, when, items, qr)


def report_resources(report, pid: str) -> Iterator[dict]:
    qr, when = f"report-{report.id}", instant(report.submitted_at)
    answers = [
        ("nrs-now", report.nrs_now),
        ("nrs-average", report.nrs_average),
        ("peg-enjoyment", report.peg_enjoyment),
        ("peg-activity", report.peg_activity),
        ("pgic", report.pgic),
        ("further-treatment", report.further_treatment),
    ]
    yield questionnaire_response(qr, "pit-between-visits", pid, when, answers, ref("Patient", pid))
    if report.nrs_now is not None:
        yield _observation(f"{qr}-nrs-now", pid, when, concept(codes.NRS_NOW), score(report.nrs_now), qr)
    if report.peg_enjoyment is not None:
        items = (report.nrs_average, report.peg_enjoyment, report.peg_activity)
        yield peg_observation(f"{qr}-peg", pid, when, items, qr)
    elif report.nrs_average is not None:
        code = concept(codes.PEG_AVERAGE_PAIN)
        yield _observation(f"{qr}-nrs-average", pid, when, code, score(report.nrs_average), qr)
    if report.pgic is not None:
        yield pgic_observation(f"{qr}-pgic", pid, when, report.pgic, qr)


SIDE_TEXT = {"left": "left", "right": "right", "bilateral": "both sides", "midline": "midline"}


@dataclass(frozen=True)
class SitePieces:
    """What every site of one nerve and side shares in the resources: built once per load_records call."""

    text: str  # "Sural nerve, left"
    location: dict  # BodyStructure.location
    qualifier: list  # BodyStructure.locationQualifier
    body_site: dict  # Procedure.bodySite


def site_pieces(record: PatientRecord, site: Row) -> SitePieces:
    """The site's nerve and side as the resources code them. The dicts are shared by every resource of the call
    that uses them, so nothing may change them after they are yielded."""
    key = ("site", site.nerve_code, site.nerve_name, site.side)
    pieces = record.memo.get(key)
    if pieces is None:
        codings = codes.nerve_codings(site.nerve_code, site.nerve_name)
        text = f"{site.nerve_name}, {SIDE_TEXT.get(site.side, site.side)}"
        pieces = record.memo[key] = SitePieces(
            text=text,
            location={"coding": codings, "text": site.nerve_name},
            qualifier=[concept(codes.SIDES[site.side], SIDE_TEXT[site.side])],
            body_site={"coding": codings, "text": text},
        )
    return pieces


def solution_description(session: Row) -> str:
    """The solution as treatments.InjectionSession.solution_description words it, from the session's row."""
    parts = [f"Dextrose {session.dextrose_percent.normalize():f}% in {Diluent(session.diluent).label.lower()}"]
    if session.additive != Additive.NONE and session.additive_percent is not None:
        parts.append(f"with {Additive(session.additive).label.lower()} {session.additive_percent.normalize():f}%")
    if session.buffered:
        parts.append("buffered")
    return ", ".join(parts)


def _solution_pieces(session: Row) -> tuple[dict, list]:
    ingredients = [
        {
            "itemCodeableConcept": {"coding": [{"system": codes.SOLUTION, "code": "dextrose"}], "text": "Dextrose"},
            "strength": _percent(session.dextrose_percent),
        },
        {"itemCodeableConcept": {"text": Diluent(session.diluent).label}},
    ]
    if session.additive != Additive.NONE and session.additive_percent is not None:
        additive = Additive(session.additive)
        ingredients.append(
            {
                "itemCodeableConcept": {
                    "coding": [{"system": codes.SOLUTION, "code": additive.value}],
                    "text": additive.label,
                },
                "strength": _percent(session.additive_percent),
            }
        )
    return {"text": solution_description(session)}, ingredients


def solution_medication(record: PatientRecord, session: Row) -> dict:
    """The injected solution as a Medication: its parts with their strengths, and the product lot (R4's
    Medication.batch is where a lot number and expiry belong; the Procedure points here through usedReference).
    A clinic mixes few solutions: each one's code and ingredients are built once per load_records call (shared)."""
    key = ("solution", session.dextrose_percent, session.diluent, session.additive, session.additive_percent,
           session.buffered)  # fmt: skip
    pieces = record.memo.get(key)
    if pieces is None:
        pieces = record.memo[key] = _solution_pieces(session)
    code, ingredients = pieces
    return {
        "resourceType": "Medication",
        "id": f"solution-{session.id}",
        "code": code,
        "ingredient": ingredients,
        "batch": {"lotNumber": session.lot_number, "expirationDate": day(session.lot_expiry)},
    }


def _percent(value: Decimal) -> dict:
    """A w/v percentage as the Ratio FHIR strengths are: g per 100 mL."""
    return {
        "numerator": {"value": number(value), "unit": "g", "system": codes.UCUM, "code": "g"},
        "denominator": {"value": 100, "unit": "mL", "system": codes.UCUM, "code": "mL"},
    }


def body_structure(site: Row, pieces: SitePieces, pid: str) -> dict:
    return {
        "resourceType": "BodyStructure",
        "id": f"site-{site.id}",
        "location": pieces.location,
        "locationQualifier": pieces.qualifier,
        "patient": ref("Patient", pid),
    }


def _site_note(record: PatientRecord, site: Row, pieces: SitePieces) -> str:
    key = ("note", pieces.text, site.points, site.volume_per_point_ml)
    note = record.memo.get(key)
    if note is None:
        note = record.memo[key] = f"{pieces.text}: {site.points} points x {number(site.volume_per_point_ml)} mL"
    return note


def session_resources(record: PatientRecord, session: Row, pid: str) -> Iterator[dict]:
    """A signed session as a Procedure, its solution, and each site as a BodyStructure (nerve and side).

    The nerve is coded in Procedure.bodySite; the side, which a CodeableConcept of the nerve cannot carry, is the
    BodyStructure's locationQualifier, reached through R4's procedure-targetBodyStructure extension. The total
    volume is an extension (R4's Procedure has no quantity), each site's points and mL per point a note."""
    sites = record.sites.get(session.id, [])
    pieces = [site_pieces(record, site) for site in sites]
    volume = sum((site.points * site.volume_per_point_ml for site in sites), Decimal("0"))
    sid, when = f"session-{session.id}", instant(session.performed_at)
    yield solution_medication(record, session)
    for site, site_piece in zip(sites, pieces, strict=True):
        yield body_structure(site, site_piece, pid)
    course = next((course for course in record.courses if course.id == session.course_id), None)
    procedure: dict = {
        "resourceType": "Procedure",
        "id": sid,
        "extension": [
            {
                "url": codes.EXT_VOLUME,
                "valueQuantity": {"value": number(volume), "unit": "mL", "system": codes.UCUM, "code": "mL"},
            },
            *(
                {"url": codes.EXT_TARGET_BODY_STRUCTURE, "valueReference": ref("BodyStructure", f"site-{site.id}")}
                for site in sites
            ),
        ],
        "status": "completed",
        "code": concept(codes.PIT_SESSION),
        "subject": ref("Patient", pid),
        "performedDateTime": when,
        "recorder": ref("Practitioner", f"practitioner-{session.signed_by_id}"),
        "performer": [{"actor": ref("Practitioner", f"practitioner-{session.clinician_id}")}],
        "bodySite": [site_piece.body_site for site_piece in pieces],
        "usedReference": [ref("Medication", f"solution-{session.id}")],
        "note": [
            {"text": _site_note(record, site, site_piece)} for site, site_piece in zip(sites, pieces, strict=True)
        ],
    }
    if course is not None:
        procedure["reasonReference"] = [ref("Condition", condition_id(record.patient.id, course.condition_pk))]
    if session.notes:
        procedure["note"].append({"text": session.notes})
    yield procedure
    for label, value in (("pre-nrs", session.pre_nrs), ("post-nrs", session.post_nrs)):
        if value is not None:
            observation = _observation(f"{sid}-{label}", pid, when, concept(codes.NRS_NOW), score(value))
            observation["partOf"] = [ref("Procedure", sid)]
            yield observation
    for event in record.adverse_events.get(session.id, []):
        yield adverse_event(f"adverse-event-{event.id}", pid, when, event, sid, note=event.note)


def adverse_event(id_: str, pid: str, when: str, event: Row, session_id: str, note: str = "", recorder=None) -> dict:
    """An adverse event or delayed reaction; its row's `follow_up_status` is None while it has no follow-up."""
    kind = AdverseEventKind(event.kind)
    status = event.follow_up_status or "open"
    resource = {
        "resourceType": "AdverseEvent",
        "id": id_,
        "actuality": "actual",
        "event": {
            "coding": [{"system": codes.ADVERSE_EVENT, "code": kind.value, "display": kind.label}],
            "text": note or kind.label,
        },
        "subject": ref("Patient", pid),
        "date": when,
        "severity": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity", "code": event.severity}
            ]
        },
        "outcome": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/adverse-event-outcome",
                    "code": FOLLOW_UP_OUTCOME.get(status, "ongoing"),
                }
            ]
        },
        "suspectEntity": [{"instance": ref("Procedure", session_id)}],
    }
    if recorder:
        resource["recorder"] = recorder
    return resource


def delayed_reactions(record: PatientRecord, pid: str) -> Iterator[dict]:
    """Reactions reported after a signed session, kept as the patient reported them."""
    for reaction in record.delayed_reactions:
        recorder = person(record, reaction.reported_by_id, pid)
        yield adverse_event(
            f"delayed-reaction-{reaction.id}",
            pid,
            instant(reaction.reported_at),
            reaction,
            f"session-{reaction.session_id}",
            note=reaction.description,
            recorder=recorder,
        )


def appointments(record: PatientRecord, pid: str) -> Iterator[dict]:
    for appointment in record.appointments:
        resource: dict = {
            "resourceType": "Appointment",
            "id": f"appointment-{appointment.id}",
            "status": APPOINTMENT_STATUS.get(appointment.status, "booked"),
            "serviceType": [{"text": appointment.type_name}],
            "start": instant(appointment.starts_at),
            "end": instant(appointment.ends_at),
            "participant": [
                {"actor": ref("Patient", pid), "status": "accepted"},
                {"actor": ref("Practitioner", f"practitioner-{appointment.clinician_id}"), "status": "accepted"},
            ],
        }
        if appointment.cancel_reason:
            resource["cancelationReason"] = {"text": appointment.cancel_reason}
        yield resource


def documents(record: PatientRecord, pid: str) -> Iterator[dict]:
    """Each ready PDF. Its SHA-256 is an extension on the attachment: R4's Attachment.hash is SHA-1, which the
    clinic does not compute, and a SHA-256 put there would claim to be what it is not. No url: the file goes out
    only through the clinic's authorised, audited download (the patient's copy carries the file itself)."""
    signed = {session.id for session in record.sessions}
    for document in record.documents:
        attachment = {
            "extension": [{"url": codes.EXT_SHA256, "valueString": document.sha256}],
            "contentType": "application/pdf",
            "size": document.size_bytes,
            "title": document.file_name.rsplit("/", 1)[-1],
            "creation": instant(document.ready_at) if document.ready_at else None,
        }
        resource = {
            "resourceType": "DocumentReference",
            "id": f"document-{document.id}",
            "identifier": [{"system": codes.DOCUMENT_ID, "value": str(document.id)}],
            "status": "superseded" if document.superseded_at else "current",
            "type": {"text": f"{DOCUMENT_KIND_LABEL.get(document.kind, document.kind)}, version {document.version}"},
            "subject": ref("Patient", pid),
            "content": [{"attachment": {key: value for key, value in attachment.items() if value is not None}}],
        }
        if document.ready_at:
            resource["date"] = instant(document.ready_at)
        if document.session_id in signed:
            resource["context"] = {"related": [ref("Procedure", f"session-{document.session_id}")]}
        yield resource
