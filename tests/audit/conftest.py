"""Private document storage for the audit tests (the document tests' own fixture), and a worker storing into it."""

from types import SimpleNamespace

import pytest

from tests.documents.conftest import documents_root  # noqa: F401  (autouse: PDFs go to a temporary folder)


@pytest.fixture
def audit_worker(documents_root, reference_data, celery_worker_process):  # noqa: F811
    """A real Celery worker started after documents_root, so it stores PDFs in this test's folder."""
    return SimpleNamespace(**vars(celery_worker_process), documents_root=documents_root)
