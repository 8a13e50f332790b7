"""Jinja2 for the few fragments a page repeats many times over: the calendar's appointment blocks and free
cells, the all-clinicians week's chips, and the documents box of the patient and session pages.

Django's template engine resolves each variable through its generic lookup (dictionary, attribute, index) and
a chain of checks, some ten microseconds a variable on this machine; a full day calendar has about 3,500 of
them. Jinja2 compiles a template to Python code and renders the same markup several times faster. Everything
else stays in Django templates; a fragment is rendered in the view and placed into the page as HTML.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.template import engines
from django.template.defaultfilters import date as django_date
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from jinja2 import Environment, StrictUndefined

ENGINE = "fragments"


def local_date(value: date | datetime | None, format_string: str) -> str:
    """Django's |date filter, on the clinic's wall clock as in a Django template."""
    return django_date(template_localtime(value), format_string)


def environment(**options) -> Environment:
    """The fragments' Jinja2 environment: every value escaped, a misspelt name an error rather than an empty
    string, and Django's date formats as the `date` filter."""
    options = {name: value for name, value in options.items() if name not in ("autoescape", "undefined")}
    jinja = Environment(autoescape=True, undefined=StrictUndefined, **options)
    jinja.filters["date"] = local_date
    return jinja


@dataclass(frozen=True)
class IdLinks:
    """Links to the pages of many objects of one kind, from URLs reversed once rather than once per object: a
    week of calendar blocks reversed some four thousand."""

    PLACEHOLDER = "2147483647"
    patterns: dict[str, tuple[str, str]]  # key: (before the id, after it)

    @classmethod
    def reversed(cls, names: dict[str, str]) -> "IdLinks":
        """`names` maps a key to a URL name whose one argument is an object's id."""
        patterns = {}
        for key, name in names.items():
            before, _, after = reverse(name, args=[cls.PLACEHOLDER]).partition(cls.PLACEHOLDER)
            patterns[key] = (before, after)
        return cls(patterns)

    def to(self, key: str, pk: int) -> str:
        before, after = self.patterns[key]
        return f"{before}{pk}{after}"


def render_fragment(name: str, context: dict) -> SafeString:
    """The fragment's HTML, for a Django template to place as it is.

    Jinja2 has escaped every value the context brought (its autoescape is on in this engine, and a test holds it
    so), so the output is markup built safely by construction, like Django's own rendered templates."""
    return mark_safe(engines[ENGINE].get_template(name).render(context))  # noqa: S308
