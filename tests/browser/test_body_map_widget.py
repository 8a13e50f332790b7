"""The body map's script in a real browser: no server needed, the widget is rendered and inlined."""

import re

import pytest

from assessments.bodymap import BodyMapForm
from tests.assessments.test_bodymap import render


@pytest.mark.browser
def test_script_toggles_regions_by_pointer_touch_and_keyboard(settings, browser):
    """Clicking, tapping or pressing Space on a shape ticks the real checkbox; the list shows marked rows only."""
    script = (settings.BASE_DIR / "static/js/bodymap.js").read_text()
    style = (settings.BASE_DIR / "static/css/bodymap.css").read_text()
    widget = render("{% body_map_input form %}", form=BodyMapForm(prefix="map"))
    # No server here: the stylesheet and the script are inlined instead of linked.
    widget = re.sub(r"<link [^>]*>|<script [^>]*></script>", "", widget)
    page_html = f"<!doctype html><html><head><style>{style}</style></head><body><form>{widget}</form>"
    page_html += f"<script>{script}</script></body></html>"
    context = browser.new_context(has_touch=True)
    try:
        page = context.new_page()
        page.set_content(page_html)
        assert page.get_attribute("[data-bodymap-figures]", "inert") is None
        assert not page.is_visible('[data-region-row="F-HEAD"]')  # unmarked rows are collapsed

        page.click('[data-region="B-LOW-BACK-L"]')
        assert page.is_checked('[name="map-B-LOW-BACK-L-selected"]')
        assert page.get_attribute('[data-region="B-LOW-BACK-L"]', "aria-pressed") == "true"
        assert page.is_visible('[data-region-row="B-LOW-BACK-L"]')
        assert page.evaluate("document.activeElement.name") == "map-B-LOW-BACK-L-intensity"

        page.tap('[data-region="F-FOREARM-R"]')
        assert page.is_checked('[name="map-F-FOREARM-R-selected"]')

        page.focus('[data-region="F-NECK"]')
        page.keyboard.press("Space")
        assert page.is_checked('[name="map-F-NECK-selected"]')
        page.keyboard.press("Enter")
        assert not page.is_checked('[name="map-F-NECK-selected"]')

        page.click('[data-region="B-LOW-BACK-L"]')  # a second click unmarks
        assert not page.is_checked('[name="map-B-LOW-BACK-L-selected"]')
        assert page.get_attribute('[data-region="B-LOW-BACK-L"]', "aria-pressed") == "false"

        # Running the script again (as an htmx swap would) must not bind a second set of listeners.
        page.add_script_tag(content=script)
        page.click('[data-region="F-HEAD"]')
        assert page.is_checked('[name="map-F-HEAD-selected"]')

        # A widget swapped in later is set up by the htmx:load event htmx fires for new content.
        page.evaluate(
            """html => {
                const box = document.createElement("div");
                box.id = "swapped";
                box.innerHTML = html;
                document.body.append(box);
                document.dispatchEvent(new CustomEvent("htmx:load", {detail: {elt: box}}));
            }""",
            widget.replace('name="map-', 'name="later-').replace('id="id_map-', 'id="id_later-'),
        )
        page.click('#swapped [data-region="B-CALF-L"]')
        assert page.is_checked('[name="later-B-CALF-L-selected"]')
        assert not page.is_checked('[name="map-B-CALF-L-selected"]')
    finally:
        context.close()
