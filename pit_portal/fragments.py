"""Jinja2 for the parts of the busiest pages that repeat many times over: the calendar's appointment blocks, their
menus and free cells, the calendars' toolbar, the all-clinicians week's chips, the body of the patient page (with its
appointments card and portal box), the search results table, the documents box of the patient and session pages, and
the body map.

Django's template engine resolves each variable through its generic lookup (dictionary, attribute, index) and
a chain of checks, some ten microseconds a variable on this machine; a full day calendar has about 3,500 of
them. Jinja2 compiles a template to Python code and renders the same markup several times faster. Everything
else stays in Django templates; a fragment is rendered in the view and placed into the page as HTML.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from django.template import engines
from django.template.defaultfilters import date as django_date
from django.template.defaultfilters import filesizeformat, floatformat, linebreaksbr
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.dates import MONTHS, MONTHS_3, WEEKDAYS, WEEKDAYS_ABBR
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from jinja2 import Environment, StrictUndefined

ENGINE = "fragments"


# The Django date format letters the fragments use, as str.format fields of (value, its names).
QUICK_DATE_FIELDS = {
    "d": "{0.day:02d}", "j": "{0.day}", "m": "{0.month:02d}", "Y": "{0.year:04d}",
    "D": "{1.weekday_abbr}", "l": "{1.weekday}", "M": "{1.month_abbr}", "F": "{1.month}",
}  # fmt: skip
QUICK_TIME_FIELDS = {"H": "{0.hour:02d}", "i": "{0.minute:02d}"}


class _Names:
    """A day's weekday and month names as Django's date format gives them, each looked up only if asked for."""

    __slots__ = ("day",)

    def __init__(self, day: date):
        self.day = day

    weekday_abbr = property(lambda self: WEEKDAYS_ABBR[self.day.weekday()])
    weekday = property(lambda self: WEEKDAYS[self.day.weekday()])
    month_abbr = property(lambda self: MONTHS_3[self.day.month].title())
    month = property(lambda self: MONTHS[self.day.month])


@lru_cache
def quick_date_format(format_string: str, with_time: bool) -> str | None:
    """`format_string` as a str.format template, or None when it has a letter not in QUICK_DATE_FIELDS (nor, for
    a datetime, in QUICK_TIME_FIELDS) or an escape."""
    fields = {**QUICK_DATE_FIELDS, **QUICK_TIME_FIELDS} if with_time else QUICK_DATE_FIELDS
    parts = []
    for character in format_string:
        if character in fields:
            parts.append(fields[character])
        elif character.isalpha() or character == "\\":
            return None
        else:
            parts.append(character.replace("{", "{{").replace("}", "}}"))
    return "".join(parts)


def local_date(value: date | datetime | None, format_string: str) -> str:
    """Django's |date filter, on the clinic's wall clock as in a Django template.

    The few formats the fragments use are filled in directly: Django's formatter took a quarter of the patient
    page's rendering, some fifty dates. tests/test_fragments.py holds the two to the same output."""
    template = quick_date_format(format_string, isinstance(value, datetime)) if isinstance(value, date) else None
    if template is None:
        return django_date(template_localtime(value), format_string)
    value = template_localtime(value)
    return template.format(value, _Names(value))


def environment(**options) -> Environment:
    """The fragments' Jinja2 environment: every value escaped, a misspelt name an error rather than an empty
    string, Django's `date` (on the wall clock), `filesizeformat`, `floatformat` and `linebreaksbr` (escaping its text)
    and `static()`."""
    options = {name: value for name, value in options.items() if name not in ("autoescape", "undefined")}
    jinja = Environment(autoescape=True, undefined=StrictUndefined, **options)
    jinja.filters["date"] = local_date
    jinja.filters["filesizeformat"] = filesizeformat
    jinja.filters["floatformat"] = floatformat
    jinja.filters["linebreaksbr"] = linebreaksbr
    jinja.globals["static"] = static
    return jinja


@dataclass(frozen=True)
class IdLinks:
    """Links to the pages of many objects of one kind, from URLs reversed once rather than once per object: a
    week of calendar blocks reversed some four thousand."""

    PLACEHOLDER = "2147483647"
    patterns: dict[str, tuple[str, str]]  # key: (before the id, after it)

    @classmethod
    def reversed(cls, names: dict[str, str]) -> "IdLinks":
        """`names` maps a key to a URL name whose one argument is an object's id. Each is reversed once per
        process (for the URL configuration and prefix in use): some 25 microseconds a URL, and the patient page
        had fifteen."""
        return _reversed_links(tuple(names.items()), get_script_prefix(), get_urlconf())

    def to(self, key: str, pk: int) -> str:
        before, after = self.patterns[key]
        return f"{before}{pk}{after}"


@lru_cache(maxsize=256)
def _reversed_links(names: tuple[tuple[str, str], ...], script_prefix: str, urlconf: str | None) -> IdLinks:
    patterns = {}
    for key, name in names:
        before, _, after = reverse(name, args=[IdLinks.PLACEHOLDER]).partition(IdLinks.PLACEHOLDER)
        patterns[key] = (before, after)
    return IdLinks(patterns)


def url_of(name: str) -> str:
    """reverse(name) for a URL without arguments, reversed once per process as IdLinks are."""
    return _reversed_url(name, get_script_prefix(), get_urlconf())


@lru_cache(maxsize=256)
def _reversed_url(name: str, script_prefix: str, urlconf: str | None) -> str:
    return reverse(name)


def render_fragment(name: str, context: dict) -> SafeString:
    """The fragment's HTML, for a Django template to place as it is.

    Jinja2 has escaped every value the context brought (its autoescape is on in this engine, and a test holds it
    so), so the output is markup built safely by construction, like Django's own rendered templates."""
    return mark_safe(engines[ENGINE].get_template(name).render(context))  # noqa: S308


# --- Markup drawn once and used again ---------------------------------------------------------------------------


def mark(name: str) -> SafeString:
    """A place in markup drawn once for many responses (a calendar block, say) for a value each response fills
    in with fill_marks (its CSRF input): a tag, which no escaped text can hold."""
    return mark_safe(f"<pit:{name}>")  # noqa: S308


def fill_marks(markup: SafeString, values: dict[str, object]) -> SafeString:
    """The markup with each value, escaped unless it is markup itself, in place of its mark."""
    for name, value in values.items():
        markup = markup.replace(mark(name), conditional_escape(value))
    return mark_safe(markup)  # noqa: S308


def join_fragments(fragments: Iterable[SafeString]) -> SafeString:
    """Fragments one after another; anything that is not markup yet is escaped."""
    return mark_safe("".join(conditional_escape(fragment) for fragment in fragments))  # noqa: S308
