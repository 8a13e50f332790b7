import pytest

CLINIC = {
    "CLINIC_NAME": "Harbour Clinic",
    "CLINIC_PHONE": "020 7946 0000",
    "CLINIC_EMAIL": "desk@harbour.example",
    "CLINIC_ADDRESS": "1 Quay Street, Bristol",
    "SITE_URL": "https://portal.example.org",
    "TIME_ZONE": "Europe/London",
}


@pytest.fixture(autouse=True)
def clinic(settings) -> None:
    for name, value in CLINIC.items():
        setattr(settings, name, value)


@pytest.fixture
def document_storage(settings, tmp_path):
    """Private document storage in a temporary folder, so tests never write under var/."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    return tmp_path
