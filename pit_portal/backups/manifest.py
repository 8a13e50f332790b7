"""manifest.json: what a backup holds and how to tell that it arrived intact."""

import hashlib
import json
import os
from pathlib import Path

from pit_portal.backups.postgres import BackupError

MANIFEST = "manifest.json"
DATABASE_DUMP = "db.dump"
DOCUMENTS_ARCHIVE = "documents.tar.gz"
FORMAT = 1
# Backups hold every patient's record: readable by the portal's own user only.
FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_file(path: Path):
    """A new file only its owner may read, opened for binary writing; refuses to replace an existing one."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb")


def file_digest(path: Path) -> dict:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "size": path.stat().st_size}


def write_manifest(folder: Path, manifest: dict) -> None:
    """Written last and renamed into place: a folder without manifest.json is an unfinished backup."""
    partial = folder / f"{MANIFEST}.partial"
    with private_file(partial) as stream:
        stream.write(json.dumps(manifest, indent=2, sort_keys=True).encode())
    partial.replace(folder / MANIFEST)


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a backup folder.")
    if not path.is_file():
        raise BackupError(f"{folder} has no {MANIFEST}: the backup is incomplete or this is not a backup folder.")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BackupError(f"{path} is damaged (not valid JSON).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not a backup manifest this version understands (format {FORMAT}).")
    return manifest


def verify_files(folder: Path, manifest: dict) -> None:
    """Every file the manifest lists is present with its recorded size and SHA-256; else nothing may be restored."""
    expected = manifest.get("files", {})
    required = (DATABASE_DUMP, DOCUMENTS_ARCHIVE)
    problems = [f"{name} is not listed in the manifest" for name in required if name not in expected]
    for name, recorded in sorted(expected.items()):
        path = folder / name
        if Path(name).name != name or not path.is_file():
            problems.append(f"{name} is missing")
        elif file_digest(path) != {"sha256": recorded.get("sha256"), "size": recorded.get("size")}:
            problems.append(f"{name} does not match its recorded checksum")
    if problems:
        raise BackupError(f"The backup in {folder} is damaged: " + "; ".join(problems) + ". Nothing was restored.")
