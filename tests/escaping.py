"""Whether a page shows some text escaped."""

from django.utils.html import escape


def shown_escaped(text: str, page: str) -> bool:
    """`text` appears in `page` escaped as Django's templates escape it."""
    return escape(text) in page
