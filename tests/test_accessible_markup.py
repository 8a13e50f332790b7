"""Markup rules every template must keep, checked on the template files themselves so that pages the browser's
accessibility scan (tests/browser/test_accessibility.py) does not open are held to them too."""

import re
from pathlib import Path

from django.conf import settings

from tests.security.test_headers import project_template_files

# A header cell with nothing in it: a screen reader announces the column by its header, so an empty one names
# nothing. A column of buttons or tick boxes gets its name as visually-hidden text.
EMPTY_HEADER_CELL = re.compile(r"<th\b[^>]*>\s*</th>", re.I)
# A name given to a plain container: ARIA does not allow a name on an element with no role (axe rates it serious),
# and screen readers ignore it. Give the element a role ("group", "region") or a heading to be named by.
NAMED_WITHOUT_ROLE = re.compile(
    r"<(div|span|p|li|td|ul|ol|small|strong|em|b|i)\b(?![^>]*\brole=)[^>]*\baria-label(ledby)?=", re.I
)


def offences(pattern: re.Pattern) -> list[str]:
    base = Path(settings.BASE_DIR)
    return [
        f"{path.relative_to(base)}: {' '.join(match.group(0).split())}"
        for path in project_template_files()
        for match in pattern.finditer(path.read_text())
    ]


def test_no_template_has_an_empty_table_header_cell():
    assert offences(EMPTY_HEADER_CELL) == []


def test_an_empty_header_cell_is_recognised():
    assert EMPTY_HEADER_CELL.search('<tr><th>Side</th><th class="x"> </th></tr>')
    assert not EMPTY_HEADER_CELL.search('<th><span class="visually-hidden">Remove</span></th>')


def test_no_template_names_an_element_that_has_no_role():
    assert offences(NAMED_WITHOUT_ROLE) == []


def test_a_name_without_a_role_is_recognised():
    assert NAMED_WITHOUT_ROLE.search('<div class="cal-col"\n     aria-label="Alice Carter, Monday">')
    assert NAMED_WITHOUT_ROLE.search('<span aria-labelledby="x">')
    assert not NAMED_WITHOUT_ROLE.search('<div role="group" aria-label="Key">')
    assert not NAMED_WITHOUT_ROLE.search('<section aria-labelledby="contact-heading">')
    assert not NAMED_WITHOUT_ROLE.search('<select aria-label="New status">')
