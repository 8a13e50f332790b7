"""The audit chain's head, kept outside the database so that a cut tail or an emptied table is named.

The keyed chain shows an event altered or written without the key, but not events cut from its end (what is
left is still a good chain), nor a removal after which the links were recomputed (they need no key). So its head
(the newest event's id and hash) is recorded every few minutes (celery beat) in the portal's log and in
AUDIT_HEAD_FILE, and in every backup's manifest.json. The check compares each recorded head with the event it
names: that event must still be there, with that hash.

The line, in the head file and in the log alike (a copy of the log is read as a head file):

    audit-chain-head last_id=<newest event id, 0 for an empty trail> hash=<its 64 hex digits> at=<ISO 8601 time>
"""

import json
import logging
import os
import re
from datetime import UTC
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit.chain import Head
from audit.models import GENESIS_HASH

logger = logging.getLogger("audit.chain")

LINE = "audit-chain-head last_id={last_id} hash={hash} at={at}"
LINE_PATTERN = re.compile(r"audit-chain-head last_id=(\d+) hash=([0-9a-f]{64}) at=(\S+)")
NEWEST_SQL = "SELECT id, hash FROM audit_auditevent ORDER BY id DESC LIMIT 1"
# Where a backup keeps the head it was taken at (pit_portal.backups.create).
MANIFEST_KEY = "audit_head"


def newest(cursor) -> tuple[int, str]:
    """The newest event's id and hash, (0, the genesis hash) for an empty trail; any DB-API cursor."""
    cursor.execute(NEWEST_SQL)
    return cursor.fetchone() or (0, GENESIS_HASH)


def head_now(cursor) -> Head:
    last_id, last_hash = newest(cursor)
    return Head(last_id, last_hash, timezone.now().astimezone(UTC).isoformat(timespec="seconds"))


def head_line(head: Head) -> str:
    return LINE.format(last_id=head.last_id, hash=head.hash, at=head.recorded_at)


def _append_line(path: Path, line: str) -> None:
    """One whole line appended and flushed to disk: a crash leaves no half line behind a good one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, f"{line}\n".encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def chain_head_record() -> Head:
    """Record the head now: in the log and appended to AUDIT_HEAD_FILE."""
    with connection.cursor() as cursor:
        head = head_now(cursor)
    line = head_line(head)
    logger.info(line)
    _append_line(Path(settings.AUDIT_HEAD_FILE), line)
    return head


class UnreadableHeads(Exception):
    """A head file exists but cannot be read: checking without it would hide what it records."""


def read_heads(path: Path) -> list[Head]:
    """Every head line in a head file or a copy of the portal's log; none if there is no such file."""
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return []
    except OSError as error:
        raise UnreadableHeads(f"The head file {path} could not be read ({error.strerror}).") from None
    return [Head(int(last_id), last_hash, at, str(path)) for last_id, last_hash, at in LINE_PATTERN.findall(text)]


def backup_heads(folder: Path) -> list[Head]:
    """The head a backup was taken at, from its manifest.json; none if it has no readable one."""
    try:
        recorded = json.loads((Path(folder) / "manifest.json").read_text()).get(MANIFEST_KEY)
        head = Head(int(recorded["last_id"]), str(recorded["hash"]), str(recorded["recorded_at"]))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return []
    return [Head(head.last_id, head.hash, head.recorded_at, f"backup {Path(folder).name}")]


def recorded_heads(head_files: list[Path] | None = None, backups: list[Path] | None = None) -> list[Head]:
    """The heads in the given files and backup folders; by default AUDIT_HEAD_FILE and every backup in BACKUP_DIR."""
    if head_files is None:
        head_files = [Path(settings.AUDIT_HEAD_FILE)]
    if backups is None:
        root = Path(settings.BACKUP_DIR)
        backups = sorted(folder for folder in root.iterdir() if folder.is_dir()) if root.is_dir() else []
    return [head for path in head_files for head in read_heads(path)] + [
        head for folder in backups for head in backup_heads(folder)
    ]
