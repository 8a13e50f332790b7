"""Whether a page shows some text escaped. Django's templates and the Jinja2 fragments (pit_portal.fragments)
spell a quote differently (&#x27; and &quot;; &#39; and &#34;), both safe."""

import markupsafe
from django.utils.html import escape


def shown_escaped(text: str, page: str) -> bool:
    """`text` appears in `page` escaped by one engine or the other."""
    return escape(text) in page or str(markupsafe.escape(text)) in page
