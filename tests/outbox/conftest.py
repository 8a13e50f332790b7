# The broker tests here sign notes (a ready sheet owes an email): documents are stored under the test's own folder,
# and the worker and beat run with the quick recovery settings, as in the documents' tests.
from tests.documents.conftest import documents_root, documents_worker, quick_recovery, recovering_worker  # noqa: F401
