"""The renderer's URL fetcher serves the project's own fonts and stylesheet and refuses everything else,
and patient text that looks like markup is printed as text, never fetched."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from weasyprint import HTML

from documents import context, render
from documents.fetcher import FetchRefused, StaticOnlyFetcher, resolve_static
from documents.models import DocumentKind
from tests.documents.conftest import document_of, pdf_text
from treatments import services as treatment_services

ATTACKS = [
    "file:///etc/passwd",
    "file:///proc/self/environ",
    "http://127.0.0.1:6379/",
    "http://169.254.169.254/latest/meta-data/",
    "https://example.org/font.ttf",
    "ftp://example.org/x",
    "data:text/css,body{}",
    "data:image/svg+xml;base64,PHN2Zy8+",
    "pitstatic:../pit_portal/settings.py",
    "pitstatic:fonts/../../pit_portal/settings.py",
    "pitstatic:fonts/%2e%2e/%2e%2e/pit_portal/settings.py",
    "pitstatic:/etc/passwd",
    "pitstatic://etc/passwd",
    "pitstatic:js/bodymap.js",  # inside static/, but not a type PDFs may load
    "pitstatic:fonts/dejavu-fonts-ttf-2.37.3/missing.ttf",
    "pitstatic:",
    "fonts/dejavu-fonts-ttf-2.37.3/DejaVuSans.ttf",  # relative: nothing to resolve against
]
HOSTILE = [
    "<script>alert(1)</script>",
    '<img src="file:///etc/passwd">',
    '<link rel=stylesheet href="http://127.0.0.1:6379/">',
    "<style>@import url(http://169.254.169.254/)</style>",
    '<svg><image href="file:///etc/passwd"/></svg>',
]
FONT = "pitstatic:fonts/dejavu-fonts-ttf-2.37.3/DejaVuSans.ttf"


@pytest.mark.parametrize("url", ATTACKS)
def test_fetcher_refuses_anything_but_project_static_files(url):
    fetcher = StaticOnlyFetcher()
    with pytest.raises(FetchRefused):
        fetcher.fetch(url)
    assert fetcher.allowed_urls == []


def test_fetcher_serves_the_shipped_font_and_stylesheet():
    fetcher = StaticOnlyFetcher()
    font = fetcher.fetch(FONT)
    assert font.read() == (Path(settings.BASE_DIR) / "static/fonts/dejavu-fonts-ttf-2.37.3/DejaVuSans.ttf").read_bytes()
    assert fetcher.fetch("pitstatic:css/pdf.css").content_type == "text/css"
    assert fetcher.allowed_urls == [FONT, "pitstatic:css/pdf.css"]


def test_only_the_figures_handed_to_this_render_are_served():
    fetcher = StaticOnlyFetcher(figures={"pain_chart": '<svg xmlns="http://www.w3.org/2000/svg"/>'})
    assert fetcher.fetch("pit-figure:pain_chart").content_type == "image/svg+xml"
    for url in ("pit-figure:body_map", "pit-figure:../pain_chart", "pit-figure:"):
        with pytest.raises(FetchRefused):
            fetcher.fetch(url)
    assert StaticOnlyFetcher().figures == {}  # one render's figures never leak into another's fetcher


def test_an_svg_figure_cannot_reach_out_either():
    """A figure is SVG: an <image> or stylesheet inside it goes through the same fetcher and is refused."""
    figure = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">'
        '<image href="file:///etc/passwd" width="5" height="5"/><image xlink:href="http://169.254.169.254/"'
        ' width="5" height="5"/></svg>'
    )
    fetcher = StaticOnlyFetcher(figures={"chart": figure})
    HTML(string='<img src="pit-figure:chart">', base_url=None, url_fetcher=fetcher).write_pdf()
    assert fetcher.allowed_urls == ["pit-figure:chart"]
    assert {"file:///etc/passwd", "http://169.254.169.254/"} <= {r.url for r in fetcher.records if not r.allowed}


def test_a_symlink_inside_static_that_points_outside_is_refused(tmp_path):
    root = tmp_path / "static"
    (root / "fonts").mkdir(parents=True)
    secret = tmp_path / "secret.ttf"
    secret.write_bytes(b"not for PDFs")
    (root / "fonts" / "escape.ttf").symlink_to(secret)
    (root / "fonts" / "real.ttf").write_bytes(b"font")
    assert resolve_static("pitstatic:fonts/real.ttf", root) == (root / "fonts" / "real.ttf").resolve()
    with pytest.raises(FetchRefused):
        resolve_static("pitstatic:fonts/escape.ttf", root)


def test_weasyprint_asks_the_fetcher_and_gets_nothing_for_raw_attack_markup():
    """Control: the same markup given to WeasyPrint unescaped. Every resource it names is refused."""
    fetcher = StaticOnlyFetcher()
    markup = "".join(HOSTILE) + '<a rel="attachment" href="file:///etc/passwd">x</a>'
    HTML(string=markup, base_url=None, url_fetcher=fetcher).write_pdf()
    asked = {record.url for record in fetcher.records}
    assert {"file:///etc/passwd", "http://127.0.0.1:6379/", "http://169.254.169.254/"} <= asked
    assert fetcher.allowed_urls == []


def test_hostile_text_in_a_note_and_addendum_is_printed_literally_and_fetches_nothing(
    draft, clinician, django_capture_on_commit_callbacks
):
    draft.notes = "\n".join(HOSTILE)
    draft.save()
    with django_capture_on_commit_callbacks(execute=False):
        signed = treatment_services.session_sign(session=draft, by=clinician)
        treatment_services.addendum_add(session=signed, text="\n".join(HOSTILE), by=clinician)
    fetcher = StaticOnlyFetcher()
    document = document_of(signed, DocumentKind.VISIT_SUMMARY)
    pdf = render.render_pdf(*context.template_and_context(document), fetcher=fetcher)

    text = pdf_text(pdf.content)
    for snippet in HOSTILE:
        assert text.count(snippet) == 2  # once from the note, once from the addendum
    # Asked for: the figure this render made itself (no assessment, so no body map), nothing else; nothing
    # refused either, because nothing else was even tried.
    assert [(record.url, record.allowed) for record in fetcher.records] == [("pit-figure:pain_chart", True)]


def test_pdf_templates_add_no_unescaped_output():
    templates = Path(settings.BASE_DIR) / "documents" / "templates"
    unsafe = re.compile(r"\|\s*safe(seq)?\b|mark_safe|autoescape\s+off|\{%\s*autoescape")
    offenders = [
        f"{path.relative_to(templates)}:{number}"
        for path in templates.rglob("*")
        if path.is_file()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if unsafe.search(line)
    ]
    assert offenders == []
