"""Reading an uploaded CSV file: its size, its encoding, its header and its rows. Anything the portal cannot read
as a table raises UnreadableFile with a message that says what is wrong and what to do; the view answers it 400
(413 for a file too large)."""

import csv
import io
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

UTF8 = "utf-8"
WINDOWS_1252 = "cp1252"
# What the upload form offers. UTF-8 is what Cliniko and Jane export and what Excel's "CSV UTF-8" writes (with a
# byte order mark, which is dropped). Windows-1252 is what Excel's plain "CSV" writes on a Western Windows: a file
# exported by the old system and saved again in Excel. It is never guessed: nearly any bytes decode as
# Windows-1252, so a file in another encoding would be read as wrong letters without a word; the person
# uploading chooses it, and a file that is not valid UTF-8 is refused with that choice named.
ENCODINGS = {UTF8: "UTF-8 (Cliniko, Jane, Excel's “CSV UTF-8”)", WINDOWS_1252: "Windows-1252 (Excel's plain “CSV”)"}
DELIMITERS = ",;\t"


class UnreadableFile(Exception):
    """The file is not a CSV table the portal can read; the message says why, for the person who uploaded it."""

    def __init__(self, message: str, *, too_large: bool = False):
        super().__init__(message)
        self.message = message
        self.too_large = too_large


def max_bytes() -> int:
    return settings.IMPORTS_MAX_FILE_BYTES


def too_large_message() -> str:
    return (
        f"The file is larger than {max_bytes() // (1024 * 1024)} MB, the most the portal imports at once. "
        "Export fewer rows at a time (for example patients by the first letter of their surname)."
    )


class FileSizeLimit(FileUploadHandler):
    """Stops reading an upload once its file passes the limit: what was received so far is dropped, the rest of
    the request is read and thrown away as it arrives (nothing is kept), and `exceeded` tells the view why the
    file is missing. Placed before Django's own handlers, which would otherwise write it all to a temporary file."""

    def __init__(self, limit: int, request=None):
        super().__init__(request)
        self.limit = limit
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) makes the file


def decode(content: bytes, encoding: str) -> str:
    """The file's text in `encoding` (UTF-8 with or without a byte order mark, or Windows-1252)."""
    if not content.strip():
        raise UnreadableFile("The file is empty.")
    if content.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise UnreadableFile("This is a spreadsheet workbook (.xlsx or .xls), not a CSV file. Save it as “CSV UTF-8”.")
    if content.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in content[:4096]:
        raise UnreadableFile("The file is in UTF-16 or is not text. Save it as “CSV UTF-8” and upload it again.")
    try:
        return content.decode("utf-8-sig" if encoding == UTF8 else WINDOWS_1252)
    except UnicodeDecodeError as error:
        line = content[: error.start].count(b"\n") + 1
        raise UnreadableFile(_not_encoded_message(encoding, line)) from None


def _not_encoded_message(encoding: str, line: int) -> str:
    if encoding == UTF8:
        return (
            f"Line {line} of the file is not valid UTF-8 text. Save the file as “CSV UTF-8” in your spreadsheet, "
            "or, if it was saved as plain “CSV” in Excel on Windows, upload it again choosing Windows-1252."
        )
    return f"Line {line} of the file has bytes that are not Windows-1252 text. Save it as “CSV UTF-8” instead."


@dataclass(frozen=True)
class Table:
    """A CSV file read: its column names and its rows of cells, as text."""

    header: list[str]
    rows: list[list[str]]
    delimiter: str


def _delimiter(first_line: str) -> str:
    # The separator the header uses most: Excel in much of Europe writes semicolons.
    counts = {delimiter: first_line.count(delimiter) for delimiter in DELIMITERS}
    return max(counts, key=lambda delimiter: counts[delimiter]) if any(counts.values()) else ","


def read_table(text: str, *, delimiter: str | None = None) -> Table:
    """The header and rows of a CSV text. Refused: no header line, blank or repeated column names, a header
    that reads as data, a broken quote, more than IMPORTS_MAX_ROWS rows or none. Rows with the wrong number of
    cells are kept as they are: each is reported as a problem of its own row."""
    delimiter = delimiter or _delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as error:
        raise UnreadableFile(f"Line {reader.line_num} is not valid CSV ({error}). Check its quotes.") from None
    _check_header(header)
    if not rows:
        raise UnreadableFile("The file has a header line but no rows.")
    if len(rows) > settings.IMPORTS_MAX_ROWS:
        raise UnreadableFile(f"The file has {len(rows):,} rows; the portal imports at most "
                             f"{settings.IMPORTS_MAX_ROWS:,} at once. Split it.")  # fmt: skip
    return Table(header, rows, delimiter)


def _check_header(header: list[str]) -> None:
    if len(header) < 2:
        raise UnreadableFile(
            "The first line must name the columns (for example “First Name,Last Name,Date of Birth”), "
            "separated by commas: this file has one column or none."
        )
    if any(not name for name in header):
        raise UnreadableFile("A column in the first line has no name: the first line must name every column.")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise UnreadableFile(f"The first line names a column twice ({', '.join(repeated)}): names must differ.")
    if any(_looks_like_data(name) for name in header):
        raise UnreadableFile(
            "The first line looks like a patient's data, not column names. Export the file with its header line."
        )


def _looks_like_data(name: str) -> bool:
    """A header cell that is an email address, or a number or date (digits and separators only)."""
    return "@" in name or (any(c.isdigit() for c in name) and all(c.isdigit() or c in "/.-: " for c in name))


def read_upload(content: bytes, encoding: str) -> Table:
    return read_table(decode(content, encoding))
