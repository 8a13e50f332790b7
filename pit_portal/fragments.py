"""Jinja2 for the few fragments a page repeats hundreds of times: the calendar's appointment blocks and free
cells, and the all-clinicians week's chips.

Django's template engine resolves each variable through its generic lookup (dictionary, attribute, index) and
a chain of checks, some ten microseconds a variable on this machine; a full day calendar has about 3,500 of
them. Jinja2 compiles a template to Python code and renders the same markup several times faster. Everything
else stays in Django templates; a fragment is rendered in the view and placed into the page as HTML.
"""

from django.template import engines
from django.utils.safestring import SafeString, mark_safe
from jinja2 import Environment, StrictUndefined

ENGINE = "fragments"


def environment(**options) -> Environment:
    """The fragments' Jinja2 environment: every value escaped, and a misspelt name an error rather than an
    empty string."""
    options = {name: value for name, value in options.items() if name not in ("autoescape", "undefined")}
    return Environment(autoescape=True, undefined=StrictUndefined, **options)


def render_fragment(name: str, context: dict) -> SafeString:
    """The fragment's HTML, for a Django template to place as it is.

    Jinja2 has escaped every value the context brought (its autoescape is on in this engine, and a test holds it
    so), so the output is markup built safely by construction, like Django's own rendered templates."""
    return mark_safe(engines[ENGINE].get_template(name).render(context))  # noqa: S308
