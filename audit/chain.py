"""The audit trail's keyed hash chain.

Each event carries `mac`, an HMAC-SHA256 of every field it records under a key the database never holds
(AUDIT_CHAIN_KEY), computed by the application as it writes the event. The database chains the events in the
order it takes them: `hash` is a SHA-256 of the event, its `mac` and `prev_hash` (the hash of the event before
it), filled in by a trigger that holds the chain's lock (migrations 0002 and 0005). So:

- an event altered in the table, or one written there without the key, fails its MAC, whatever hashes are
  recomputed after it;
- an event removed breaks the link to the next one; recomputing the later links (they need no key) changes the
  hash of every later event, which the heads recorded outside the database (audit.heads) then no longer match;
- events cut from the end, or all of them, leave a good chain, and are named against those heads.

The key is applied by the application and the links by the database so that writing an event stays one query:
a keyed link would need the previous hash read first, one more query on every page that records a view. What
that leaves open is the events written since the newest recorded head: one of them may be removed without a
trace, as any of them may be cut from the end in every design with heads taken at intervals.
"""

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils.crypto import salted_hmac

from audit.models import GENESIS_HASH

KEY_SALT = "pit_portal.audit.chain"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Each event's link as the database computes it, its MAC and the fields the MAC covers, in the order event_mac()
# takes them, each as both the ORM and psycopg read it.
CHECK_SQL = """
SELECT id, prev_hash, hash, audit_event_digest(e), mac,
       occurred_at, actor_id, actor_username, action, patient_id, object_type, object_id, detail::text, source,
       host(ip_address), path
FROM audit_auditevent e
ORDER BY id
"""


def chain_key() -> bytes:
    """AUDIT_CHAIN_KEY, or a key derived from SECRET_KEY when it is not set."""
    if settings.AUDIT_CHAIN_KEY:
        return settings.AUDIT_CHAIN_KEY.encode()
    return salted_hmac(KEY_SALT, "audit chain", secret=settings.SECRET_KEY, algorithm="sha256").digest()


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _address(value: str | None) -> str | None:
    # The address's bytes: the same however it is written ("::1" or "0:0:0:0:0:0:0:1").
    return ipaddress.ip_address(str(value)).packed.hex() if value else None


def _numbers_as_stored(value):
    """A whole number written as a float (2.0, 1e+20) comes back from jsonb as an int: hash it as one either way."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {name: _numbers_as_stored(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_numbers_as_stored(item) for item in value]
    return value


def event_mac(fields: Sequence, key: bytes) -> str:
    """The HMAC of one event's fields: occurred_at, actor_id, actor_username, action, patient_id, object_type,
    object_id, detail (its JSON text), source, ip_address and path, as CHECK_SQL reads them."""
    occurred_at, actor_id, username, action, patient_id, object_type, object_id, detail, source, *rest = fields
    address, path = rest
    message = json.dumps(
        [_micros(occurred_at), actor_id, username, action, patient_id, object_type, object_id,
         _numbers_as_stored(json.loads(detail)), source, _address(address), path],
        sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    )  # fmt: skip
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Head:
    """The chain's newest event as recorded at a moment, and where that record was found."""

    last_id: int
    hash: str
    recorded_at: str = ""
    source: str = ""

    def named(self) -> str:
        return f"the head recorded at {self.recorded_at} ({self.source})"


@dataclass(frozen=True)
class ChainCheck:
    rows: int
    first_broken_id: int | None = None
    problem: str = ""
    heads_checked: int = 0
    # What the recorded heads show is gone from the end of the trail (or all of it).
    missing: str = ""

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None and not self.missing


BROKEN_LINK = "its link to the previous row is broken (a row was removed?)"
ALTERED = "its contents do not match its hash (the row was altered)"
FORGED = "its contents do not match its keyed MAC (the row was altered or written without the key)"


def _heads_by_id(heads: Iterable[Head]) -> dict[int, list[Head]]:
    by_id: dict[int, list[Head]] = {}
    for head in heads:
        if head.last_id > 0:  # a head taken of an empty trail names nothing that could go missing
            by_id.setdefault(head.last_id, []).append(head)
    return by_id


def _missing(last_id: int | None, unseen: list[Head]) -> str:
    """What the heads that named no event still in the trail say was lost; the furthest one speaks for all."""
    if not unseen:
        return ""
    furthest = max(unseen, key=lambda head: head.last_id)
    if last_id is None:
        return f"the table is empty, but {furthest.named()} names event {furthest.last_id}"
    if furthest.last_id > last_id:
        return f"events after event {last_id} are missing: {furthest.named()} names event {furthest.last_id}"
    return f"event {furthest.last_id} is missing: {furthest.named()} names it"


def first_break(rows, *, heads: Iterable[Head] = (), key: bytes | None = None) -> ChainCheck:
    """Check rows of CHECK_SQL in id order, and each recorded head against the event it names. The restore
    command walks a restored database with this too."""
    key = key or chain_key()
    expected = _heads_by_id(heads)
    checked = sum(len(found) for found in expected.values())
    count, previous, last_id = 0, GENESIS_HASH, None
    for event_id, prev_hash, stored_hash, link, mac, *fields in rows:
        count += 1
        if prev_hash != previous:
            return ChainCheck(count, event_id, BROKEN_LINK, checked)
        if stored_hash != link:
            return ChainCheck(count, event_id, ALTERED, checked)
        if not hmac.compare_digest(mac, event_mac(fields, key)):
            return ChainCheck(count, event_id, FORGED, checked)
        for head in expected.pop(event_id, ()):
            if head.hash != stored_hash:
                return ChainCheck(count, event_id, f"it is not the event {head.named()} names", checked)
        previous, last_id = stored_hash, event_id
    unseen = [head for found in expected.values() for head in found]
    return ChainCheck(count, heads_checked=checked, missing=_missing(last_id, unseen))
