"""CSV downloads of the audit trail, streamed row by row and safe to open in a spreadsheet."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse
from django.utils import timezone

# A cell starting with one of these is a formula to Excel or LibreOffice (OWASP "CSV injection"):
# a username typed at the sign-in form could otherwise run when a manager opens the export.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


class _Passthrough:
    """A file-like object whose write() hands the line back, so csv.writer can feed a generator."""

    def write(self, line: str) -> str:
        return line


def csv_download(filename: str, header: list[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """A streamed CSV attachment: rows are read from the database while they are sent, never all held at once."""
    writer = csv.writer(_Passthrough())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_safe(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{timezone.localdate().isoformat()}.csv"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def local_time(moment) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds")
