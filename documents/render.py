"""Render: a template and its context in, PDF bytes out. No database, no storage, no network.

The stylesheet (with its two @font-face fonts) is parsed once per process and reused by every render:
parsing CSS and loading fonts is most of a cold render's cost, and a worker renders many documents.
"""

import functools
import logging
from dataclasses import dataclass

from django.template.loader import render_to_string
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from documents.fetcher import SCHEME, StaticOnlyFetcher, resolve_static

logger = logging.getLogger(__name__)

STYLESHEET = "css/pdf.css"
WARM_UP_TEMPLATE = "documents/pdf/warm_up.html"


@dataclass(frozen=True)
class RenderedPdf:
    content: bytes
    page_count: int


@functools.cache
def _resources() -> tuple[FontConfiguration, CSS]:
    # One FontConfiguration per process: the fonts it loads are cached in it, so every later render skips them.
    font_config = FontConfiguration()
    css_text = resolve_static(f"{SCHEME}{STYLESHEET}").read_text(encoding="utf-8")
    return font_config, CSS(string=css_text, font_config=font_config, url_fetcher=StaticOnlyFetcher())


def render_pdf(template_name: str, context: dict, *, fetcher: StaticOnlyFetcher | None = None) -> RenderedPdf:
    """The PDF for `template_name` rendered with `context` (Django autoescaping on, as always).

    `context["figures"]` ({name: SVG markup from a renderer that escapes its own text}) is served to the
    template's `<img src="pit-figure:name">`: as images, WeasyPrint parses the SVG with its XML parser and
    skips the HTML parser and the CSS cascade over every SVG element."""
    html_text = render_to_string(template_name, context)
    font_config, stylesheet = _resources()
    fetcher = fetcher or StaticOnlyFetcher()
    fetcher.figures.update(context.get("figures", {}))
    # No base_url: a relative URL in the HTML has nothing to resolve against, so it is never fetched at all.
    html = HTML(string=html_text, base_url=None, url_fetcher=fetcher)
    document = html.render(stylesheets=[stylesheet], font_config=font_config)
    return RenderedPdf(content=document.write_pdf(), page_count=len(document.pages))


def warm_up() -> None:
    """Load fonts and CSS and lay out one tiny page, so the first real document renders at warm speed."""
    render_pdf(WARM_UP_TEMPLATE, {})
