"""The registry export page in a real browser, under the Content-Security-Policy: an unfinished export's progress
moves by itself (htmx polls its row), and once ready its zip downloads from the link that appears."""

import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from outcomes.models import ExportStatus, RegistryExport
from outcomes.registry import services
from tests.browser.test_content_security_policy import signed_in_as
from tests.browser.test_registration_journey import watch_for_problems
from tests.factories import CourseFactory


@pytest.fixture
def private_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_progress_moves_by_itself_and_the_ready_export_downloads(
    page: Page, live_server, manager: User, private_storage, tmp_path
):
    CourseFactory()
    export = RegistryExport.objects.create(
        requested_by=manager, status=ExportStatus.RUNNING, claimed_at=timezone.now(), rows_done=1200, rows_total=3400
    )
    problems = watch_for_problems(page)
    signed_in_as(page, manager, live_server.url)
    page.goto(reverse("registry:exports"))
    row = page.locator(f"#registry-export-{export.pk}")
    expect(row).to_contain_text("Registry export: 1,200 of 3,400 courses")

    RegistryExport.objects.filter(pk=export.pk).update(rows_done=2000)
    expect(row).to_contain_text("Registry export: 2,000 of 3,400 courses")

    # The worker died; the sweeper sent it again and it is built (here, in this process).
    RegistryExport.objects.filter(pk=export.pk).update(status=ExportStatus.PENDING, claimed_at=None)
    assert services.export_build(export.pk)
    expect(row).to_have_attribute("data-status", "ready")
    assert problems == []  # before the download, which Chromium reports as a request it aborted (a navigation)
    with page.expect_download() as download:
        row.get_by_role("link", name="Download zip").click()
    saved = tmp_path / "downloaded.zip"
    download.value.save_as(saved)
    assert download.value.suggested_filename.endswith(f"-{export.pk}.zip")
    with zipfile.ZipFile(saved) as package:
        assert sorted(package.namelist()) == ["README.md", "data.csv", "data_dictionary.csv"]
