"""Calendars drawn once for each state of the diary, and drawn again only when the diary has changed.

The desk and the clinicians look at the same few days all day long (today, this week), and drawing a busy day's
two hundred appointments, or a week's six hundred, was most of those pages' time. A drawn calendar is kept with
what it depends on: the days and clinicians shown, what the viewer may do, the patient being booked for, the time
(on the day it is today), and how far the diary's change log (scheduling.models.DiaryChange, written by
database triggers) had got for those days.

Why that log tells a drawn calendar is current: every committed change to what a calendar shows adds a row
under the days it touches, so the number of rows for the shown days grows with each one. The log is read
before the diary, so a calendar is never kept under a count older than what it shows: at worst it is newer,
and is drawn again once the count has caught up. A change made in the same, uncommitted transaction could be
rolled back and its count reached again by another, so nothing is kept while a transaction is open (a page
is drawn and not kept); pages are read outside one.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date, timedelta
from typing import TypeVar

from django.db import connection
from django.utils import timezone

from scheduling.models import DiaryChange

Drawn = TypeVar("Drawn")

KEPT = 32  # a busy day is some 400 KB of markup: at most some 13 MB a worker

_kept: OrderedDict[tuple, object] = OrderedDict()
_lock = threading.Lock()  # the development server answers requests in threads

# An appointment is filed under the days in UTC that it starts and ends on; a local day lies within the UTC
# days either side of it, whatever the clinic's zone.
_ZONE_SLACK = timedelta(days=1)

_CHANGES_SQL = (
    f"SELECT count(*), coalesce(max(id), 0) FROM {DiaryChange._meta.db_table}"  # noqa: S608 (a table name)
    " WHERE day BETWEEN %s AND %s OR day IS NULL"
)


def diary_changes(first: date, last: date) -> tuple[int, int]:
    """How many changes the log holds that can show between these local days, and the newest one's id."""
    with connection.cursor() as cursor:
        cursor.execute(_CHANGES_SQL, [first - _ZONE_SLACK, last + _ZONE_SLACK])
        return cursor.fetchone()


def clock_key(first: date, last: date) -> tuple:
    """What of the time a calendar over these days shows: the minute, on the day that is today (its free times
    start from now), and otherwise only which day today is."""
    now = timezone.localtime()
    minute = (now.hour, now.minute) if first <= now.date() <= last else None
    return (now.date(), timezone.get_current_timezone_name(), minute)


def drawn(key: Hashable, first: date, last: date, draw: Callable[[], Drawn]) -> Drawn:
    """What `draw()` gives for the calendar over these days that `key` tells from others, drawn again only when
    the diary has changed since it was last drawn, or the time it shows has moved on."""
    if connection.in_atomic_block:
        return draw()
    full_key = (key, first, last, clock_key(first, last), diary_changes(first, last))
    with _lock:
        if full_key in _kept:
            _kept.move_to_end(full_key)
            return _kept[full_key]
    value = draw()
    with _lock:
        _kept[full_key] = value
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return value


def forget_drawn(**signal) -> None:
    """Forget every drawn calendar: a database flushed or migrated anew starts its log again from nothing. Also
    post_migrate's receiver (a module's function: signals hold their receivers weakly)."""
    with _lock:
        _kept.clear()
