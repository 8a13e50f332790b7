"""Where a warm PDF render's time goes: a pyinstrument profile of each document kind, summed by stage.

Not a test. Run it with a migrated database (nothing is left in it: the sample is rolled back):

    DATABASE_URL=postgres://... SECRET_KEY=x .venv/bin/python bench/pdf_profile.py [--renders 30] [--html DIR]

For each kind it prints the share of the render spent in each stage (a sampling profiler slows Python code more
than the C libraries underneath, so the shares matter, not the milliseconds), and how many Pango text layouts
one render makes: a count that does not depend on the load on the machine, and that most of the layout and
drawing time follows. `--html DIR` also saves pyinstrument's full call tree for each kind.
"""

import argparse
import collections
from pathlib import Path

import pdf_bench  # sets up Django (before `documents` is imported); its sample is the benchmark's
from django.db import transaction
from pyinstrument import Profiler
from pyinstrument.frame import Frame
from weasyprint.text import line_break

from documents import context, render

# (label, file, function as pyinstrument names it): a stage's time is counted once, at its outermost frame.
STAGES = [
    ("template and HTML parsing", "django/template/loader.py", "render_to_string"),
    ("template and HTML parsing", "weasyprint/__init__.py", "HTML.__init__"),
    ("CSS cascade (computed styles)", "weasyprint/css/__init__.py", "get_all_computed_styles"),
    ("box tree", "weasyprint/formatting_structure/build.py", "build_formatting_structure"),
    ("layout", "weasyprint/layout/__init__.py", "layout_document"),
    ("  of which page header, footer, page numbers", "weasyprint/layout/page.py", "make_margin_boxes"),
    ("  of which table column widths", "weasyprint/layout/preferred.py", "table_and_columns_preferred_widths"),
    ("PDF writing", "weasyprint/document.py", "Document.write_pdf"),
    ("  of which drawing the pages", "weasyprint/draw/__init__.py", "draw_page"),
    ("    of which SVG figures", "weasyprint/svg/__init__.py", "SVG.draw"),
    ("      of which SVG text (one layout per glyph)", "weasyprint/svg/text.py", "text"),
    ("      of which SVG paths", "weasyprint/svg/path.py", "path"),
    ("  of which fonts (subsets)", "weasyprint/pdf/fonts.py", "build_fonts_dictionary"),
]


def stage_seconds(root: Frame) -> dict[tuple[str, str], float]:
    """Seconds per (file, function) of STAGES, each counted at its outermost frame only."""
    wanted = {(file, function) for _, file, function in STAGES}
    totals: dict[tuple[str, str], float] = collections.Counter()

    def walk(frame: Frame, open_stages: frozenset[tuple[str, str]]) -> None:
        name = f"{frame.class_name}.{frame.function}" if frame.class_name else frame.function
        key = next((key for key in wanted if key[1] == name and (frame.file_path or "").endswith(key[0])), None)
        if key is not None and key not in open_stages:
            totals[key] += frame.time
            open_stages = open_stages | {key}
        for child in frame.children:
            walk(child, open_stages)

    walk(root, frozenset())
    return totals


def count_text_layouts(job: tuple[str, dict]) -> int:
    """Pango layouts made by one render (WeasyPrint makes one per line tried, per table cell measured...)."""
    calls = 0
    original = line_break.Layout.setup

    def counting_setup(self, style):
        nonlocal calls
        calls += 1
        return original(self, style)

    line_break.Layout.setup = counting_setup
    try:
        render.render_pdf(*job)
    finally:
        line_break.Layout.setup = original
    return calls


def profile(kind: str, job: tuple[str, dict], renders: int, html_dir: Path | None) -> None:
    render.render_pdf(*job)  # warm, as a worker is after its first task
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(renders):
        render.render_pdf(*job)
    profiler.stop()
    root = profiler.last_session.root_frame()
    seconds = stage_seconds(root)
    print(f"\n{kind}: {count_text_layouts(job)} Pango text layouts per render")
    shares: dict[str, float] = collections.Counter()
    for label, file, function in STAGES:
        shares[label] += seconds[file, function] / root.time
    for label, share in shares.items():
        print(f"  {label:48} {share:6.1%}")
    if html_dir is not None:
        html_dir.mkdir(parents=True, exist_ok=True)
        (html_dir / f"{kind}.html").write_text(profiler.output_html())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=30, help="profiled renders per kind (default 30)")
    parser.add_argument("--html", type=Path, help="also save pyinstrument's call tree for each kind here")
    args = parser.parse_args()
    render.warm_up()
    with transaction.atomic():
        documents = pdf_bench.build_sample()
        for kind, document in documents.items():
            profile(kind, context.template_and_context(document), args.renders, args.html)
        transaction.set_rollback(True)  # leave the database as we found it


if __name__ == "__main__":
    main()
