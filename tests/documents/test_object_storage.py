"""Documents in an S3-compatible bucket (documents.object_storage), against a real S3 server (moto's, started by
the `object_store` fixture): stored privately with a SHA-256 that S3 keeps, sent byte for byte and audited,
rebuilt when missing, and an unreachable store told apart from a damaged document everywhere it is read or
written."""

import base64
import hashlib
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from audit.models import Action, AuditEvent
from documents import tasks
from documents.models import Document, DocumentDownload, DocumentStatus
from tests.documents.test_views import made_ready
from tests.object_storage import point_documents_at, unreachable_endpoint
from treatments import services as treatment_services

# Everyone, or everyone with any AWS account: a grant to either makes an object public.
PUBLIC_GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}


def stored_object(bucket, document: Document) -> dict:
    return bucket.client.get_object(Bucket=bucket.name, Key=document.file_name)


def downloads_audited(document: Document) -> int:
    return AuditEvent.objects.filter(action=Action.DOCUMENT_DOWNLOADED, object_id=str(document.pk)).count()


def test_a_rendered_document_is_stored_privately_in_the_bucket_with_its_sha256_kept_by_s3(
    documents_bucket, documents_root, aftercare
):
    made_ready(aftercare)
    head = documents_bucket.client.head_object(
        Bucket=documents_bucket.name, Key=aftercare.file_name, ChecksumMode="ENABLED"
    )
    # S3's own SHA-256 of the object is the one the database recorded when the PDF was stored.
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(aftercare.sha256)).decode()
    assert head["ContentLength"] == aftercare.size_bytes
    assert hashlib.sha256(stored_object(documents_bucket, aftercare)["Body"].read()).hexdigest() == aftercare.sha256
    assert list(documents_root.iterdir()) == []  # nothing on the file system

    # Private: no grant to the public, and a request without credentials is refused.
    acl = documents_bucket.client.get_object_acl(Bucket=documents_bucket.name, Key=aftercare.file_name)
    assert [grant["Permission"] for grant in acl["Grants"]] == ["FULL_CONTROL"]
    assert not {grant["Grantee"].get("URI") for grant in acl["Grants"]} & PUBLIC_GROUPS
    anonymous = f"{documents_bucket.store.endpoint}/{documents_bucket.name}/{aftercare.file_name}"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, timeout=5)  # noqa: S310 (the test server's own address)
    assert refused.value.code == 403
    # And the portal never makes an address for one, signed or not.
    with pytest.raises(NotImplementedError):
        default_storage.url(aftercare.file_name)


def test_a_staff_download_sends_the_stored_bytes_exactly_and_is_audited(
    documents_bucket, clinician_client, clinician, aftercare
):
    made_ready(aftercare)
    response = clinician_client.get(reverse("documents:download", args=[aftercare.pk]))
    assert response.status_code == 200
    assert response.content == stored_object(documents_bucket, aftercare)["Body"].read()
    assert DocumentDownload.objects.get().checksum_ok is True
    assert downloads_audited(aftercare) == 1


def test_a_missing_object_is_refused_and_rebuilt_into_the_bucket(
    documents_bucket, clinician_client, aftercare, django_capture_on_commit_callbacks
):
    made_ready(aftercare)
    documents_bucket.client.delete_object(Bucket=documents_bucket.name, Key=aftercare.file_name)

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = clinician_client.get(reverse("documents:download", args=[aftercare.pk]))
    assert response.status_code == 410 and b"being rebuilt" in response.content
    aftercare.refresh_from_db()
    assert aftercare.status == DocumentStatus.PENDING and aftercare.rebuild_requested_at is not None
    assert len(enqueued) == 1 and downloads_audited(aftercare) == 0

    made_ready(aftercare)
    assert clinician_client.get(reverse("documents:download", args=[aftercare.pk])).status_code == 200


@pytest.fixture(params=["refused", "hung", "no such bucket"])
def store_outage(request, documents_bucket, settings, monkeypatch):
    """The store made unusable for a `with` block: nothing listening at its address (refused at once), the server
    paused (connections accepted, never answered: each request waits out the read time-out), or the portal set to
    a bucket that is not there (every object in it answers 404, but as NoSuchBucket, not NoSuchKey)."""
    elsewhere = {
        "refused": store_down(documents_bucket),
        "no such bucket": {**documents_bucket.environ, "DOCUMENTS_S3_BUCKET": f"gone-{documents_bucket.name}"},
    }

    @contextmanager
    def outage():
        if request.param == "hung":
            with documents_bucket.store.paused():
                yield
            return
        point_documents_at(settings, monkeypatch, elsewhere[request.param])
        try:
            yield
        finally:
            point_documents_at(settings, monkeypatch, documents_bucket.environ)

    return outage


def store_down(bucket) -> dict[str, str]:
    """The bucket's settings with its address moved to where nothing listens."""
    return {**bucket.environ, "DOCUMENTS_S3_ENDPOINT_URL": unreachable_endpoint()}


def test_an_unreachable_store_is_not_a_damaged_document(
    documents_bucket, store_outage, clinician_client, aftercare, django_capture_on_commit_callbacks, caplog
):
    made_ready(aftercare)
    with store_outage(), django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = clinician_client.get(reverse("documents:download", args=[aftercare.pk]))

    assert response.status_code == 503
    assert b"can't be reached just now" in response.content and b"%PDF" not in response.content
    assert response["Retry-After"] == "120" and response["Cache-Control"] == "no-store"
    # Nothing rebuilt, nothing recorded as read or sent.
    aftercare.refresh_from_db()
    assert aftercare.status == DocumentStatus.READY and aftercare.rebuild_requested_at is None
    assert enqueued == [] and DocumentDownload.objects.count() == 0 and downloads_audited(aftercare) == 0
    assert f"document {aftercare.pk} could not be read" in caplog.text

    # Once the store answers again, the same document goes out.
    assert clinician_client.get(reverse("documents:download", args=[aftercare.pk])).status_code == 200
    assert downloads_audited(aftercare) == 1


def test_the_scheduled_check_skips_what_it_cannot_reach_and_stops_while_the_store_is_down(
    documents_bucket, settings, monkeypatch, aftercare, summary, clinician, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=False):
        treatment_services.addendum_add(session=aftercare.session, text="Bruise noted on day two.", by=clinician)
    documents = list(Document.objects.order_by("pk"))
    for document in documents:
        made_ready(document)
    assert len(documents) == 4
    checked_before = dict(Document.objects.values_list("pk", "checksum_checked_at"))

    point_documents_at(settings, monkeypatch, store_down(documents_bucket))
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        tasks.verify_stored_documents.apply()

    assert enqueued == []
    assert set(Document.objects.values_list("status", flat=True)) == {DocumentStatus.READY}
    assert dict(Document.objects.values_list("pk", "checksum_checked_at")) == checked_before
    # Three reads unanswered in a row, then it stops: the fourth is not tried.
    assert caplog.text.count("could not be checked") == 3
    assert "the document store is not answering" in caplog.text

    point_documents_at(settings, monkeypatch, documents_bucket.environ)
    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        tasks.verify_stored_documents.apply()
    assert enqueued == []
    assert all(
        checked != checked_before[pk] for pk, checked in Document.objects.values_list("pk", "checksum_checked_at")
    )


def test_a_render_during_an_outage_waits_and_completes_once_the_store_is_back(
    documents_bucket, settings, monkeypatch, summary
):
    point_documents_at(settings, monkeypatch, store_down(documents_bucket))
    tasks.render_document.apply(args=[summary.pk])  # eagerly: every retry of the round runs at once

    summary.refresh_from_db()
    assert summary.status == DocumentStatus.PENDING and summary.claimed_at is None
    assert summary.last_error == "Waiting to try again (StorageUnavailable)."
    assert summary.attempts == tasks.MAX_RETRIES + 1

    point_documents_at(settings, monkeypatch, documents_bucket.environ)
    tasks.render_document.apply(args=[summary.pk])  # as the sweeper would send it
    summary.refresh_from_db()
    assert summary.status == DocumentStatus.READY and summary.last_error == ""
    head = documents_bucket.client.head_object(
        Bucket=documents_bucket.name, Key=summary.file_name, ChecksumMode="ENABLED"
    )
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(summary.sha256)).decode()


@pytest.mark.worker
def test_a_worker_started_after_the_bucket_fixture_stores_into_that_bucket(
    documents_bucket, documents_worker, clinician, draft, wait_for
):
    """The bucket's settings reach a real Celery worker through its environment, as they reach a production one."""
    treatment_services.session_sign(session=draft, by=clinician)  # commits, then sends one message per document

    def all_ready() -> bool:
        statuses = set(Document.objects.filter(session=draft).values_list("status", flat=True))
        return statuses == {DocumentStatus.READY}

    wait_for(all_ready, timeout=90, what="both documents to be ready", log=documents_worker.log)
    listed = documents_bucket.client.list_objects_v2(Bucket=documents_bucket.name)["Contents"]
    stored = {document.file_name for document in Document.objects.filter(session=draft)}
    assert {entry["Key"] for entry in listed} == stored and len(stored) == 2
    assert list(documents_worker.documents_root.iterdir()) == []
