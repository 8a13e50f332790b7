"""What a signature covers, and whether a signed note still matches the SHA-256 taken when it was signed.

Pure, no queries: treatments.services reads the rows when it signs, and the session page and the PDF pipeline
check the note with the sites and adverse events they have already loaded to show it. The database refuses to
change a signed note, but its owner can switch that off; this check is what shows such a change.
"""

import hashlib
import json
from collections.abc import Iterable

from treatments.models import AdverseEvent, InjectionSession, InjectionSite

SIGNED_FIELDS = [
    "number", "performed_at", "clinician_id", "consent_id", "pre_nrs", "post_nrs",
    "dextrose_percent", "diluent", "buffered", "additive", "additive_percent", "lot_number",
    "lot_expiry", "technique", "needle_gauge", "aftercare_given", "next_interval_days", "notes",
    "alert_override_reason",
]  # fmt: skip


class SignedNoteAltered(Exception):
    """A signed note whose content no longer matches its signature's SHA-256."""

    def __init__(self, session: InjectionSession) -> None:
        super().__init__(f"injection session {session.pk} no longer matches its signature")
        self.session = session


def signed_content(session: InjectionSession, site_rows: Iterable[tuple], adverse_event_rows: Iterable[tuple]) -> dict:
    """Every clinical field of the note, its sites as (nerve_id, side, points, volume_per_point_ml) rows and its
    adverse events as (kind, severity, note) rows, each in id order."""
    content = {field: getattr(session, field) for field in SIGNED_FIELDS}
    content["course_id"] = session.course_id
    content["patient_id"] = session.course.patient_id
    content["sites"] = [
        {"nerve": nerve, "side": side, "points": points, "volume_per_point_ml": volume}
        for nerve, side, points, volume in site_rows
    ]
    content["adverse_events"] = [
        {"kind": kind, "severity": severity, "note": note} for kind, severity, note in adverse_event_rows
    ]
    return content


def content_digest(content: dict) -> str:
    canonical = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def signature_matches(
    session: InjectionSession, *, sites: Iterable[InjectionSite], adverse_events: Iterable[AdverseEvent]
) -> bool:
    """Whether a signed note's stored SHA-256 is still that of its content; `sites` and `adverse_events` are the
    note's own, loaded in id order (their models' ordering)."""
    site_rows = [(site.nerve_id, site.side, site.points, site.volume_per_point_ml) for site in sites]
    event_rows = [(event.kind, event.severity, event.note) for event in adverse_events]
    return session.content_sha256 == content_digest(signed_content(session, site_rows, event_rows))
