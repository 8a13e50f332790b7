"""WeasyPrint's only way out of the process: a deny-by-default URL fetcher.

It serves exactly two things:
- `pitstatic:<path>`: the fonts and stylesheet the project ships, under static/, for a short list of types;
- `pit-figure:<name>`: the SVG figures of the document being rendered (the course pain chart and the body
  map), which the render step hands to this fetcher in memory. They are made by the project's own renderers,
  which escape every text they contain; no other name is served, and nothing from a template or a record
  can add one.
Everything else is refused, whatever the scheme: file: (/etc/passwd, the documents folder), http(s):
(Redis on 127.0.0.1:6379, the cloud metadata service on 169.254.169.254), data: (we generate none), ftp:,
and anything a stylesheet @import, an attachment or an SVG <image> inside a figure might name.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from django.conf import settings
from weasyprint.urls import URLFetcher, URLFetcherResponse

logger = logging.getLogger(__name__)

# Letters only: Django's manifest storage (collectstatic in production) leaves a url() in pdf.css alone only
# when its scheme matches ^[a-z]+:, and tries to hash anything else as a path of its own.
SCHEME = "pitstatic:"
FIGURE_SCHEME = "pit-figure:"
ALLOWED_SUFFIXES = {".ttf": "font/ttf", ".css": "text/css"}


class FetchRefused(ValueError):
    """WeasyPrint catches this, logs a warning and renders without the resource."""


@dataclass(frozen=True)
class FetchRecord:
    url: str
    allowed: bool


def resolve_static(url: str, root: Path | None = None) -> Path:
    """The file a `pitstatic:` URL names, or FetchRefused. No traversal, no symlink escape, no odd types."""
    if not url.startswith(SCHEME):
        raise FetchRefused("only the project's static files may be fetched")
    relative = unquote(url.removeprefix(SCHEME))
    parts = relative.replace("\\", "/").split("/")
    if not relative or relative.startswith("/") or "\x00" in relative or ".." in parts or "?" in relative:
        raise FetchRefused("not a plain path under static/")
    # The source folder, not STATIC_ROOT: the worker needs no collectstatic, and the files are the same.
    root = root or (Path(settings.BASE_DIR) / "static").resolve()
    # resolve() follows symlinks, so a link inside static/ pointing elsewhere lands outside root and is refused.
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        raise FetchRefused("not a file under static/")
    if candidate.suffix.lower() not in ALLOWED_SUFFIXES:
        raise FetchRefused("file type not allowed")
    return candidate


class StaticOnlyFetcher(URLFetcher):
    """Serves resolve_static() and refuses everything else; remembers what it was asked for (tests read it)."""

    def __init__(self, root: Path | None = None, figures: Mapping[str, str] | None = None) -> None:
        super().__init__(allowed_protocols=(), allow_redirects=False, fail_on_errors=False)
        self.root = root
        self.figures = dict(figures or {})
        self.records: list[FetchRecord] = []

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        if url.startswith(FIGURE_SCHEME) and url.removeprefix(FIGURE_SCHEME) in self.figures:
            self.records.append(FetchRecord(url, allowed=True))
            body = self.figures[url.removeprefix(FIGURE_SCHEME)].encode()
            return URLFetcherResponse(url, body=body, headers={"Content-Type": "image/svg+xml"})
        try:
            path = resolve_static(url, self.root)
        except FetchRefused:
            self.records.append(FetchRecord(url, allowed=False))
            # The scheme only: a refused URL could one day carry text from a record.
            logger.warning("PDF renderer refused a %s URL", url.split(":", 1)[0][:20] or "relative")
            raise
        self.records.append(FetchRecord(url, allowed=True))
        content_type = ALLOWED_SUFFIXES[path.suffix.lower()]
        return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": content_type})

    def open(self, url, data=None, timeout=None):  # OpenerDirector's signature
        # urllib's opener would reach the network; every path goes through fetch() instead.
        return self.fetch(url if isinstance(url, str) else url.full_url)

    @property
    def allowed_urls(self) -> list[str]:
        return [record.url for record in self.records if record.allowed]
