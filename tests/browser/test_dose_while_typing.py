"""The session form's dextrose given follows the sites and the strength as they are typed, before any save."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.browser.test_content_security_policy import signed_in_as
from tests.factories import SessionFactory, signed_session
from treatments.models import InjectionSite


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_this_note_and_the_totals_follow_the_sites_as_typed(page: Page, live_server, clinician):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Signed before: 1 site of 4 points x 0.5 mL of 5%, 2 mL, 0.1 g (the factory's site).
    earlier = signed_session(clinician=clinician, number=1, performed_at=timezone.now() - timedelta(days=7))
    draft = SessionFactory(course=earlier.course, clinician=clinician, number=2, dextrose_percent=Decimal("5"))
    nerve = InjectionSite.objects.get(session=earlier).nerve
    InjectionSite.objects.create(session=draft, nerve=nerve, side="left", points=4, volume_per_point_ml=Decimal("0.5"))
    signed_in_as(page, clinician, live_server.url)
    page.goto(reverse("treatments:session_edit", args=[draft.pk]))
    expect(page.locator("#dose-note-g")).to_have_text("0.10")  # 2 mL of 5%
    expect(page.locator("#dose-course-g")).to_have_text("0.20")  # with the signed note's 0.1 g

    row = page.locator("[data-site-row]").first
    row.get_by_label("Injection points").fill("12")
    page.get_by_label("Dextrose %").fill("12.5")
    # 12 x 0.5 = 6 mL of 12.5%: 0.75 g; with the signed note, 0.85 g and 8 mL.
    expect(page.locator("#dose-note-g")).to_have_text("0.75")
    expect(page.locator("#dose-note-ml")).to_have_text("6.00")
    expect(page.locator("#dose-course-g")).to_have_text("0.85")
    expect(page.locator("#dose-recent-ml")).to_have_text("8.00")

    row.get_by_label("Remove").check()  # the row no longer counts
    expect(page.locator("#dose-note-g")).to_have_text("0.00")
    expect(page.locator("#dose-course-g")).to_have_text("0.10")
    assert errors == []
