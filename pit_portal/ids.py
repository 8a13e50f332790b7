"""Record ids as they arrive in URLs and query strings.

Primary keys are PostgreSQL bigints. A number longer than that is an id nobody has, so it must read as
"not found" (404) rather than reach the database and fail there (500).
"""

import re

BIGINT_MAX = 2**63 - 1
ID_PATTERN = "[0-9]{1,19}"  # ASCII digits only: str.isdigit() also accepts other scripts' digits
_ID = re.compile(ID_PATTERN)


def parse_id(raw: str | None) -> int | None:
    """The id `raw` spells, or None when it is not one a row could have."""
    if raw is None or not _ID.fullmatch(raw):
        return None
    number = int(raw)
    return number if 0 < number <= BIGINT_MAX else None


class IdConverter:
    """`<id:pk>` in a URL pattern: a path whose number cannot be an id does not match, so it is a 404."""

    regex = ID_PATTERN

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValueError(f"{value!r} is not a record id")
        return number

    def to_url(self, value: int) -> str:
        return str(value)
