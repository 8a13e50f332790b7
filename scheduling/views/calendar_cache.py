"""Rendered calendars in Django's cache, under keys that carry the diary's versions.

A calendar's grid is rendered once for each state of what it shows and then served to every worker on every host
from the shared cache (Redis in production, the local memory backend on the embedded default). Its key holds
everything the markup depends on: the days and their versions, the version of what shows on every day
(scheduling.models.DiaryVersion, moved by database triggers), the clinicians shown, whether the viewer may change
appointments, the patient being booked for, and the clock (the minute, on a calendar showing today). A change to
the diary moves a version, so the next view looks under a new key and renders afresh: nothing is ever deleted, and
no stale calendar is shown. Old entries expire.

The versions are read from the database with the rest of the page, in whatever transaction the request is in. A
view inside the transaction that made a change sees that change and its new version, and caches the calendar
under that version; if the transaction rolls back, the version is never handed out again (it comes from a
sequence), so that entry is never found. Hence no special case for atomic blocks.
"""

import hashlib
import logging
from collections.abc import Callable, Hashable
from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple, TypeVar

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from scheduling.models import ALL_DAYS, DiaryVersion

Rendered = TypeVar("Rendered")
Item = TypeVar("Item", bound=Hashable)

CACHE_SECONDS = 24 * 60 * 60  # a day: entries under versions that have moved on are simply never asked for again

logger = logging.getLogger(__name__)


def _markup_version() -> str:
    """A digest of the scheduling templates as this release has them, in every key: a release that changes the
    calendars' markup never serves what an older release cached. The same files give the same digest on every host."""
    digest = hashlib.sha256()
    for template in sorted((Path(__file__).resolve().parent.parent / "templates").rglob("*.html")):
        digest.update(template.read_bytes())
    return digest.hexdigest()[:16]


MARKUP_VERSION = _markup_version()

# An appointment's change moves the versions of the days in UTC it starts and ends on; a local day lies within
# the UTC days either side of it, whatever the clinic's zone.
ZONE_SLACK = timedelta(days=1)


def clock_key(first: date, last: date) -> tuple:
    """What of the time a calendar over these days shows: the minute, when today is among them (its free times
    start from now and its "now" line moves), and otherwise only which day today is."""
    now = timezone.localtime()
    minute = (now.hour, now.minute) if first <= now.date() <= last else None
    return (now.date(), timezone.get_current_timezone_name(), minute)


class CalendarKey(NamedTuple):
    key: str  # the calendar's cache key
    every_day: int  # the version of ALL_DAYS, which the appointments' blocks are cached under too


def calendar_key(name: str, first: date, last: date, *shown: object) -> CalendarKey:
    """The cache key of the calendar `name` over these days, with what else it shows (`shown`: the clinicians'
    ids, the viewer's rights, the calendar's own address), at the diary's current versions: those of the UTC days
    that can show between these local days, and of ALL_DAYS (one query)."""
    shown_days = Q(day__range=(first - ZONE_SLACK, last + ZONE_SLACK)) | Q(day=ALL_DAYS)
    versions = list(DiaryVersion.objects.filter(shown_days).order_by("day").values_list("day", "version"))
    parts = (MARKUP_VERSION, name, first, last, shown, clock_key(first, last), versions)
    every_day = next((version for day, version in versions if day == ALL_DAYS), 0)
    return CalendarKey(f"scheduling:calendar:{hashlib.sha256(repr(parts).encode()).hexdigest()}", every_day)


def cached_calendar(key: CalendarKey, render: Callable[[], Rendered]) -> Rendered:
    """What `render()` gives, from the cache under `key` when another request (on any worker) has rendered it."""
    rendered = _cache_call(cache.get, key.key)
    if rendered is None:
        rendered = render()
        _cache_call(cache.set, key.key, rendered, CACHE_SECONDS)
    return rendered


def _cache_call(method: Callable, *args):
    """The cache only saves work: when it cannot be reached the calendar is rendered afresh, never refused."""
    try:
        return method(*args)
    except Exception:
        logger.warning("the calendar cache could not be reached; rendering without it", exc_info=True)
        return None


def content_key(name: str, *content: object) -> str:
    """The cache key of a fragment that shows `content` and nothing else: its key changes whenever what it shows
    does. (Give it the ALL_DAYS version too, so that a database created afresh never meets another's entries.)"""
    return f"scheduling:{name}:{hashlib.sha256(repr((MARKUP_VERSION, content)).encode()).hexdigest()}"


def cached_each(keys: dict[Item, str], render: Callable[[Item], Rendered]) -> dict[Item, Rendered]:
    """What `render(item)` gives for each item, from one read of the cache for all of them; what was missing is
    rendered and stored in one write. A busy day's appointments mostly come back unchanged after a booking."""
    found = _cache_call(cache.get_many, list(keys.values())) or {}
    missing = {item: render(item) for item, key in keys.items() if key not in found}
    if missing:
        _cache_call(cache.set_many, {keys[item]: value for item, value in missing.items()}, CACHE_SECONDS)
    return {item: missing[item] if item in missing else found[key] for item, key in keys.items()}
