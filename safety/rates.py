"""Adverse-event rates per 100 signed sessions, by product lot, nerve, technique and clinician, for a period.

A group's rate is its events (those recorded in its sessions' notes and the reactions reported after them) over
its signed sessions performed in the period, x 100. Drafts never count, neither as sessions nor for their events.
A session with several nerves counts towards each of them once (two sites on one nerve are one session for it),
and so do its events. Four queries, one per grouping, whatever the number of sessions.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, QuerySet

from safety.queries import Period
from treatments.models import InjectionSession, InjectionSite, Technique

# A group is flagged when its rate is more than FLAG_RATE_MULTIPLE times the clinic's overall rate over at least
# FLAG_MIN_SESSIONS sessions. Twice the clinic's rate is a difference worth a look (a faulty lot, a technique, a
# habit); under 20 sessions one event moves a group's rate by 5 per 100 or more, so small groups would be flagged
# by chance alone. A flag asks for a look at the group's events, it proves nothing.
FLAG_RATE_MULTIPLE = 2
FLAG_MIN_SESSIONS = 20

ONE_DECIMAL = Decimal("0.1")


def is_flagged(events: int, sessions: int, clinic_events: int, clinic_sessions: int) -> bool:
    """The rule above, compared in whole numbers (events x sessions), never on rounded rates:
    events / sessions > FLAG_RATE_MULTIPLE x clinic_events / clinic_sessions."""
    if sessions < FLAG_MIN_SESSIONS or clinic_sessions == 0:
        return False
    return events * clinic_sessions > FLAG_RATE_MULTIPLE * clinic_events * sessions


@dataclass(frozen=True)
class Rate:
    label: str
    events: int
    sessions: int
    flagged: bool = False

    @property
    def per_100(self) -> Decimal | None:
        """Events per 100 sessions to one decimal place; None without sessions."""
        if not self.sessions:
            return None
        return (Decimal(self.events * 100) / self.sessions).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Rates:
    clinic: Rate
    groups: dict[str, list[Rate]]  # by what the sessions are grouped by ("Lot", "Nerve", ...), largest first


def signed_sessions(period: Period) -> QuerySet[InjectionSession]:
    return InjectionSession.objects.filter(
        signed_at__isnull=False, performed_at__gte=period.starts, performed_at__lt=period.ends
    )


def _counted(groups: QuerySet, to_session: str = "") -> QuerySet:
    """Each group with its sessions and their events (`to_session`: the way from the grouped rows to their session,
    "session__" for sites). Counted distinct: a session's sites, adverse events and delayed reactions are joined side
    by side, so each is counted once however many of the others it meets."""
    return groups.annotate(
        sessions=Count(f"{to_session}pk", distinct=True),
        in_notes=Count(f"{to_session}adverse_events", distinct=True),
        reported=Count(f"{to_session}delayed_reactions", distinct=True),
    ).order_by()


def _rates(rows: Iterable[dict], label, clinic: Rate) -> list[Rate]:
    rates = [
        Rate(
            label=label(row),
            events=(events := row["in_notes"] + row["reported"]),
            sessions=row["sessions"],
            flagged=is_flagged(events, row["sessions"], clinic.events, clinic.sessions),
        )
        for row in rows
    ]
    return sorted(rates, key=lambda rate: (-rate.sessions, rate.label))


def _clinician(row: dict) -> str:
    name = f"{row['clinician__first_name']} {row['clinician__last_name']}".strip()
    return name or row["clinician__username"]


def period_rates(period: Period) -> Rates:
    sessions = signed_sessions(period)
    techniques = list(_counted(sessions.values("technique")))
    # Every session has exactly one technique, so the clinic's totals are the techniques' added up.
    clinic = Rate(
        "Clinic",
        events=sum(row["in_notes"] + row["reported"] for row in techniques),
        sessions=sum(row["sessions"] for row in techniques),
    )
    lots = _counted(sessions.values("lot_number"))
    clinicians = _counted(
        sessions.values("clinician", "clinician__first_name", "clinician__last_name", "clinician__username")
    )
    nerves = _counted(InjectionSite.objects.filter(session__in=sessions).values("nerve", "nerve__name"), "session__")
    technique_names = dict(Technique.choices)
    return Rates(
        clinic=clinic,
        groups={
            "Lot": _rates(lots, lambda row: row["lot_number"], clinic),
            "Nerve": _rates(nerves, lambda row: row["nerve__name"], clinic),
            "Technique": _rates(
                techniques, lambda row: technique_names.get(row["technique"], row["technique"]), clinic
            ),
            "Clinician": _rates(clinicians, _clinician, clinic),
        },
    )
