"""When a signed-in session ends: idle and absolute time-outs, and "sign out everywhere".

What the rules need is kept in the session itself, written at sign-in, so checking them on each
request costs no query. Times are whole seconds since the epoch (the session is JSON).
"""

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone

SIGNED_IN_AT = "policy_signed_in_at"
LAST_SEEN_AT = "policy_last_seen_at"
GENERATION = "policy_generation"
# "patient" or "staff": decided once at sign-in so that no request needs the user's groups.
AUDIENCE = "policy_audience"
PATIENT = "patient"
STAFF = "staff"

# The last-activity time is rewritten only once it is this old (or a tenth of the idle limit, if
# that is shorter). Writing it on every request would save the session row on every request: a
# database write per page (and per htmx poll), and one more query on every page whose query count the
# tests hold fixed. The cost is that a session may end up to this many seconds before the idle limit,
# counted from the true last request; the page's warning is told the server's count, so it agrees.
TOUCH_INTERVAL = 60

# Why a session was ended: the audit event's detail and the message the user sees.
REVOKED = "revoked"
ABSOLUTE = "absolute"
IDLE = "idle"


def now_seconds() -> int:
    return int(timezone.now().timestamp())


def start(session: SessionBase, user) -> None:
    """Called at sign-in (the session key has just been rotated)."""
    now = now_seconds()
    session[SIGNED_IN_AT] = now
    session[LAST_SEEN_AT] = now
    # From the database, not the instance: a "sign out everywhere" since it was loaded must not leave
    # the new session under the old generation, to be ended at once.
    user.refresh_from_db(fields=["session_generation"])
    session[GENERATION] = user.session_generation
    session[AUDIENCE] = PATIENT if user.is_patient_user else STAFF


def idle_limit(session: SessionBase) -> int:
    """Seconds without a request after which the session ends: patients get longer than staff."""
    if session.get(AUDIENCE) == PATIENT:
        return settings.SESSION_IDLE_TIMEOUT_PATIENT
    return settings.SESSION_IDLE_TIMEOUT_STAFF


def end_reason(session: SessionBase, user, now: int) -> str | None:
    """Why this signed-in session must end now, or None while it may go on."""
    signed_in_at = session.get(SIGNED_IN_AT)
    if signed_in_at is None:
        # Started before these rules, or not through login(): its age is unknown.
        return ABSOLUTE
    if session.get(GENERATION) != user.session_generation:
        return REVOKED
    if now - signed_in_at > settings.SESSION_ABSOLUTE_TIMEOUT:
        return ABSOLUTE
    if now - session.get(LAST_SEEN_AT, signed_in_at) > idle_limit(session):
        return IDLE
    return None


def touch(session: SessionBase, now: int, *, force: bool = False) -> None:
    """Note a request as activity, writing the session only when the stored time is stale (or forced)."""
    interval = min(TOUCH_INTERVAL, idle_limit(session) // 10)
    if force or now - session.get(LAST_SEEN_AT, 0) >= interval:
        session[LAST_SEEN_AT] = now


def idle_seconds_left(session: SessionBase, now: int) -> int:
    """Seconds until the idle limit, as the server will count it (the page's warning uses this)."""
    return max(idle_limit(session) - (now - session.get(LAST_SEEN_AT, now)), 0)
