"""NDJSON files of FHIR resources, one resource per line: written a chunk at a time to local temporary files, and
joined from their stored parts into one file per type, read in blocks. Neither holds a file in memory."""

import hashlib
import io
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

import orjson
from django.core.files.base import File
from django.core.files.storage import Storage

from documents.storage import READ_CHUNK, store_errors
from interop.models import RESOURCE_TYPE_PATTERN

_RESOURCE_TYPE = re.compile(RESOURCE_TYPE_PATTERN)


class PartDamaged(Exception):
    """A stored part is missing or no longer the one written: the export cannot be put together from it."""


@dataclass
class TypeFile:
    """One resource type's lines of one chunk, in an unnamed temporary file (a killed run leaves nothing)."""

    resource_type: str
    file: IO[bytes] = field(default_factory=lambda: tempfile.TemporaryFile())  # noqa: SIM115 - closed by close()
    digest: "hashlib._Hash" = field(default_factory=hashlib.sha256)
    size: int = 0
    count: int = 0

    def write(self, line: bytes) -> None:
        self.file.write(line)
        self.digest.update(line)
        self.size += len(line)
        self.count += 1

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()

    def close(self) -> None:
        self.file.close()


def ndjson_line(resource: dict) -> bytes:
    """The resource as one line: compact JSON, UTF-8 as it is (Bulk Data's files are UTF-8), with its newline. One
    resource never spans two lines (JSON escapes the newlines inside strings). orjson writes the same bytes as
    json.dumps(ensure_ascii=False, separators=(",", ":")) for the values the resources hold (a float under 1e-4
    aside: 1e-7, not 1e-07, the same number), several times faster."""
    return orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE)


def write_by_type(resources: Iterable[dict]) -> dict[str, TypeFile]:
    """Each resource as a line of its type's file, in the order given. A resourceType that is not a FHIR name (it
    would name a file) is a ValueError: a fault in the mapping, not the data."""
    files: dict[str, TypeFile] = {}
    try:
        for resource in resources:
            resource_type = resource["resourceType"]
            if resource_type not in files:
                if not isinstance(resource_type, str) or not _RESOURCE_TYPE.match(resource_type):
                    raise ValueError(f"not a FHIR resource type: {resource_type!r}")
                files[resource_type] = TypeFile(resource_type)
            files[resource_type].write(ndjson_line(resource))
    except BaseException:
        for type_file in files.values():
            type_file.close()
        raise
    for type_file in files.values():
        type_file.file.seek(0)
    return files


@dataclass(frozen=True)
class StoredPart:
    file_name: str
    sha256: str
    size_bytes: int


class JoinedParts(io.RawIOBase):
    """The stored parts of one file read one after another as one stream, for a store to save: each part is checked
    against its SHA-256 as it is read (PartDamaged if it fails), and the whole is hashed on the way. seek(0) begins
    again (a store may rewind before it reads)."""

    def __init__(self, storage: Storage, parts: Sequence[StoredPart]) -> None:
        super().__init__()
        self.storage, self.parts = storage, parts
        self.current: File | None = None
        self.next_part, self.size = 0, 0
        self.part_digest, self.whole = hashlib.sha256(), hashlib.sha256()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        # Only a rewind to the start is possible: a store that needs the length reads the stream in full instead.
        return False

    def tell(self) -> int:
        return self.size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if offset != 0 or whence not in (io.SEEK_SET, io.SEEK_CUR):
            raise io.UnsupportedOperation("the joined parts can only be read again from the start")
        if whence == io.SEEK_SET:
            self._close_part()
            self.next_part, self.current, self.part_digest = 0, None, hashlib.sha256()
            self.whole, self.size = hashlib.sha256(), 0
        return self.size

    def readinto(self, buffer) -> int:
        while True:
            if self.current is None and not self._open_next():
                return 0
            assert self.current is not None
            with store_errors():
                block = self.current.read(min(len(buffer), READ_CHUNK))
            if block:
                self.part_digest.update(block)
                self.whole.update(block)
                self.size += len(block)
                buffer[: len(block)] = block
                return len(block)
            self._check_part()

    def _open_next(self) -> bool:
        if self.next_part >= len(self.parts):
            return False
        name = self.parts[self.next_part].file_name
        try:
            with store_errors():
                self.current = self.storage.open(name, "rb")
        except FileNotFoundError:
            raise PartDamaged(f"part {name} is missing") from None
        self.part_digest = hashlib.sha256()
        return True

    def _check_part(self) -> None:
        part = self.parts[self.next_part]
        self._close_part()
        if self.part_digest.hexdigest() != part.sha256:
            raise PartDamaged(f"part {part.file_name} does not match its checksum")
        self.next_part += 1

    def _close_part(self) -> None:
        if self.current is not None:
            self.current.close()
        self.current = None

    def close(self) -> None:
        self._close_part()
        super().close()

    @property
    def sha256(self) -> str:
        return self.whole.hexdigest()
