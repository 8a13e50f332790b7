# FHIR bulk exports are stored in the document storage: each test stores under its own folder (documents_root, as in
# the documents' tests), and the real-worker tests use the documents' worker fixture, which stores there too.
from tests.documents.conftest import documents_root, documents_worker  # noqa: F401
