"""The code systems the clinic's FHIR resources use, in one place.

Standard codes only where the concept and its code were checked against a published source; everything else is in
the clinic's own code systems under LOCAL_BASE, clearly named as local. Extend the SNOMED CT map only with codes
checked in a SNOMED CT browser: a wrong standard code is worse than an honest local one.
"""

from dataclasses import dataclass

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"

# The clinic's own code systems, identifiers and extensions all start here (a URL the clinic controls; it names
# the systems and need not resolve).
BASE = "https://pit-portal.example/fhir"
LOCAL_BASE = f"{BASE}/CodeSystem"

MEASURE = f"{LOCAL_BASE}/measure"  # local: scores with no LOINC code (NRS worst, DN4, PSFS, PGIC)
NERVE = f"{LOCAL_BASE}/nerve"  # local: assessments.Nerve.code
SIDE = f"{LOCAL_BASE}/side"  # local: a side SNOMED CT has no qualifier for here (midline)
CONDITION = f"{LOCAL_BASE}/condition"  # local: patients.Condition.code
ALLERGY = f"{LOCAL_BASE}/allergy"  # local: the intake's allergy questions
PROCEDURE = f"{LOCAL_BASE}/procedure"  # local: a PIT session
SOLUTION = f"{LOCAL_BASE}/solution"  # local: the injected solution's parts
ADVERSE_EVENT = f"{LOCAL_BASE}/adverse-event-kind"  # local: treatments.AdverseEventKind
PGIC_SYSTEM = f"{LOCAL_BASE}/pgic"  # local: the seven PGIC answers

CLINIC_NUMBER = f"{BASE}/NamingSystem/clinic-number"
DOCUMENT_ID = f"{BASE}/NamingSystem/document"
QUESTIONNAIRE_BASE = f"{BASE}/Questionnaire"
CONSENT_TEXT = f"{BASE}/ConsentText"

# Extensions the clinic defines (R4 has no element for these).
EXT_SHA256 = f"{BASE}/StructureDefinition/attachment-sha256"
EXT_WITNESS = f"{BASE}/StructureDefinition/consent-witness"
EXT_WITHDRAWAL_REASON = f"{BASE}/StructureDefinition/consent-withdrawal-reason"
EXT_SIGNED_VIA = f"{BASE}/StructureDefinition/consent-signed-via"
EXT_VOLUME = f"{BASE}/StructureDefinition/injected-volume"
# R4's own extension pointing a Procedure at the BodyStructure it targeted (which carries the laterality).
EXT_TARGET_BODY_STRUCTURE = "http://hl7.org/fhir/StructureDefinition/procedure-targetBodyStructure"


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str

    def coding(self) -> dict:
        return {"system": self.system, "code": self.code, "display": self.display}


# LOINC, checked: 72514-3 is the 0-10 NRS; 91148-7 the PEG panel, whose items are 75893-8 (average pain, past
# week), 91145-3 (enjoyment of life) and 91146-1 (general activity), and 91147-9 its mean score.
NRS_NOW = Code(LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
PEG_PANEL = Code(LOINC, "91148-7", "Pain intensity, Enjoyment of life, General activity scale [PEG]")
PEG_AVERAGE_PAIN = Code(LOINC, "75893-8", "Pain severity in the past week")
PEG_ENJOYMENT = Code(LOINC, "91145-3", "Pain interference with enjoyment of life")
PEG_ACTIVITY = Code(LOINC, "91146-1", "Pain interference with general activity")
PEG_SCORE = Code(LOINC, "91147-9", "Mean score [PEG]")

# Local: no LOINC code was found for these instruments.
NRS_WORST = Code(MEASURE, "nrs-worst-week", "Worst pain in the past week (0-10)")
DN4_SCORE = Code(MEASURE, "dn4-score", "DN4 total score (0-10)")
PSFS_SCORE = Code(MEASURE, "psfs-score", "Patient-Specific Functional Scale, mean of activity scores (0-10)")
PSFS_ACTIVITY = Code(MEASURE, "psfs-activity", "Patient-Specific Functional Scale, one activity (0-10)")
PGIC = Code(MEASURE, "pgic", "Patient Global Impression of Change (1-7)")

PIT_SESSION = Code(PROCEDURE, "pit-session", "Perineural injection therapy session")

# SNOMED CT laterality qualifiers (what FHIR's own examples use); midline is local.
SIDES = {
    "left": Code(SNOMED, "7771000", "Left"),
    "right": Code(SNOMED, "24028007", "Right"),
    "bilateral": Code(SNOMED, "51440002", "Right and left"),
    "midline": Code(SIDE, "midline", "Midline"),
}

# SNOMED CT body structures for nerves, keyed by assessments.Nerve.code. Only concepts checked against FHIR R4's
# SNOMED CT body-site value set: none of the clinic's starting list had an exact concept there, so these are the
# nerves a clinic may add that do; every other nerve is coded in the local NERVE system alone.
SNOMED_NERVES = {
    "infraorbital-nerve": Code(SNOMED, "8161005", "Infraorbital nerve"),
    "lingual-nerve": Code(SNOMED, "6598008", "Lingual nerve"),
    "radial-nerve": Code(SNOMED, "8079007", "Radial nerve"),
    "medial-supraclavicular-nerves": Code(SNOMED, "9732008", "Medial supraclavicular nerves"),
    "obturator-nerve-anterior-branch": Code(SNOMED, "6820003", "Obturator nerve anterior branch"),
    "deep-branch-of-ulnar-nerve": Code(SNOMED, "9596006", "Deep branch of ulnar nerve"),
}


def nerve_codings(code: str, name: str) -> list[dict]:
    """The nerve's codings: SNOMED CT where a checked concept exists, and always the clinic's own code."""
    codings = [SNOMED_NERVES[code].coding()] if code in SNOMED_NERVES else []
    return [*codings, {"system": NERVE, "code": code, "display": name}]


def concept(code: Code, text: str | None = None) -> dict:
    return {"coding": [code.coding()], "text": text or code.display}
