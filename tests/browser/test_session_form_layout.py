"""The session note's form on a phone: every site row's nerve and its Remove box fit the screen."""

import pytest
from django.db.models.functions import Length
from django.urls import reverse
from playwright.sync_api import Page, expect

from assessments.models import Nerve
from tests.browser.test_content_security_policy import signed_in_as
from tests.factories import SessionFactory
from treatments.models import InjectionSite

PHONE = {"width": 390, "height": 844}

# The width the chosen option's text needs in its select, as the browser draws it, against the width the
# select leaves for text (its inner width less its padding, which on the right holds the arrow).
TEXT_FITS = """select => {
    const style = getComputedStyle(select);
    const context = document.createElement("canvas").getContext("2d");
    context.font = style.font;
    const needed = context.measureText(select.selectedOptions[0].text).width;
    const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return [needed, room];
}"""


def _inside(inner: dict, outer: dict) -> bool:
    return (
        inner["x"] >= outer["x"] - 0.5
        and inner["y"] >= outer["y"] - 0.5
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_at_390_px_the_chosen_nerve_and_remove_are_fully_shown(page: Page, live_server, clinician):
    draft = SessionFactory(clinician=clinician, sites=1)
    longest = Nerve.objects.filter(active=True).order_by(Length("name").desc(), "id").first()
    InjectionSite.objects.filter(session=draft).update(nerve=longest)
    signed_in_as(page, clinician, live_server.url)
    page.set_viewport_size(PHONE)
    page.goto(reverse("treatments:session_edit", args=[draft.pk]))

    row = page.locator("#sites tbody tr").first
    nerve = row.get_by_label("Nerve")
    expect(nerve).to_have_value(str(longest.pk))
    remove = row.get_by_text("Remove")
    viewport = {"x": 0, "y": 0, "width": PHONE["width"], "height": 10**6}
    nerve_cell = nerve.locator("xpath=ancestor::td[1]")
    remove_cell = remove.locator("xpath=ancestor::td[1]")
    assert _inside(nerve.bounding_box(), viewport) and _inside(nerve.bounding_box(), nerve_cell.bounding_box())
    assert _inside(remove.bounding_box(), viewport) and _inside(remove.bounding_box(), remove_cell.bounding_box())
    needed, room = nerve.evaluate(TEXT_FITS)
    assert needed <= room, f"{longest.name!r} needs {needed:.0f} px; the select has {room:.0f} px for text"
    # Nothing on the page is wider than the phone: no sideways scrolling to reach a column.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_desktop_the_column_headings_name_the_fields_once(page: Page, live_server, clinician):
    draft = SessionFactory(clinician=clinician, sites=2)
    signed_in_as(page, clinician, live_server.url)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(reverse("treatments:session_edit", args=[draft.pk]))

    expect(page.locator("#sites thead")).to_be_visible()
    for row in page.locator("#sites tbody tr").all():
        label = row.locator("label.form-label", has_text="Nerve")
        assert label.bounding_box()["width"] <= 1  # kept for screen readers, not drawn
        expect(row.get_by_label("Nerve")).to_be_visible()  # the select is still named by it
        nerve, remove = row.get_by_label("Nerve").bounding_box(), row.get_by_text("Remove").bounding_box()
        assert abs((nerve["y"] + nerve["height"] / 2) - (remove["y"] + remove["height"] / 2)) < nerve["height"]
