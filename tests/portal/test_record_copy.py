"""A patient's copy of their record: asked for on the portal page (one at a time, not too often), built into a zip
holding the FHIR bundle, every ready PDF and a readable summary, owed its "ready" email once, downloaded by the
patient alone (checked, audited, until it expires), and finished by the sweeper when a worker died."""

import hashlib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from audit.models import Action, AuditEvent
from documents.models import Document, DocumentKind, DocumentStatus
from documents.storage import StorageUnavailable
from pit_portal.outbox.models import EmailKind, OutboxEmail
from pit_portal.outbox.services import email_send
from portal import tasks
from portal.models import CopyStatus, RecordCopy
from portal.record_copy import package, services
from tests.factories import PatientFactory, UserFactory
from tests.portal.helpers import make_appointment
from tests.portal.record_copy_helpers import (
    bundle_of,
    pdf_text,
    read_zip,
    ready_copy,
    signed_visit,
    stored_zip,
)

PAGE = reverse("portal:record_copy")


def download_url(copy: RecordCopy) -> str:
    return reverse("portal:record_copy_download", args=[copy.pk])


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """The ids the build task's messages would carry (none reach a broker)."""
    ids: list[int] = []

    def record(args=None, kwargs=None, **options):
        assert kwargs in (None, {}), "a build message carries the copy's id only"
        ids.extend(args)

    monkeypatch.setattr(tasks.build_record_copy, "apply_async", record)
    return ids


def requested(patient, **fields) -> RecordCopy:
    return RecordCopy.objects.create(patient=patient, requested_by=patient.user, **fields)


# --- Asking for a copy -----------------------------------------------------------------------------------------


def test_the_page_is_linked_from_the_portal_home_and_its_navigation(patient_client, patient):
    home = patient_client.get(reverse("portal:home")).content.decode()
    assert home.count(f'href="{PAGE}"') == 3  # the main menu, the tab and the card
    page = patient_client.get(PAGE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Get a copy of my record" in text and "You have not asked for a copy yet." in text
    assert "Ask for a copy of my record" in text


def test_asking_writes_a_pending_copy_and_sends_its_id_once_committed(
    patient_client, patient, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = patient_client.post(PAGE)
    assert response.status_code == 302 and response["Location"] == PAGE
    [copy] = RecordCopy.objects.all()
    assert (copy.patient, copy.requested_by, copy.status) == (patient, patient.user, CopyStatus.PENDING)
    assert sent == [copy.pk]
    page = patient_client.get(PAGE).content.decode()
    assert "We are preparing your copy." in page and "Being prepared" in page
    assert 'hx-trigger="every 2s"' in page  # the state moves by itself
    assert "Ask for a copy of my record" not in page


def test_a_request_rolled_back_sends_nothing(patient, sent, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.copy_request(patient=patient, by=patient.user)
        raise RuntimeError("the request failed later")
    assert (callbacks, sent, RecordCopy.objects.count()) == ([], [], 0)


def test_asking_again_while_one_is_prepared_shows_it_and_starts_nothing(
    patient_client, patient, sent, django_capture_on_commit_callbacks
):
    first = requested(patient, status=CopyStatus.BUILDING, claimed_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        response = patient_client.post(PAGE, follow=True)
    assert list(RecordCopy.objects.values_list("pk", flat=True)) == [first.pk]
    assert sent == []
    assert "Your copy is already being prepared. Nothing new was asked for." in response.content.decode()


def test_one_open_copy_per_patient_is_the_database_s_rule(patient):
    requested(patient)
    with pytest.raises(IntegrityError, match="record_copy_one_open"), transaction.atomic():
        requested(patient)


def test_a_second_copy_within_a_day_is_refused_saying_from_when(patient_client, patient, sent):
    last = ready_copy(patient)
    RecordCopy.objects.filter(pk=last.pk).update(requested_at=timezone.now() - timedelta(hours=3))
    response = patient_client.post(PAGE)
    assert response.status_code == 429
    text = response.content.decode()
    assert "You asked for a copy on" in text and "You can ask for a new one from" in text
    assert RecordCopy.objects.count() == 1 and sent == []


def test_a_failed_copy_or_one_older_than_a_day_does_not_hold_up_a_new_one(patient_client, patient, sent):
    failed = requested(patient, status=CopyStatus.FAILED, error="Preparing the copy failed (ValueError).")
    old = ready_copy(patient)
    RecordCopy.objects.filter(pk=old.pk).update(requested_at=timezone.now() - timedelta(hours=25))
    assert patient_client.post(PAGE).status_code == 302
    newest = RecordCopy.objects.exclude(pk__in=[failed.pk, old.pk]).get()
    assert newest.status == CopyStatus.PENDING


def test_the_page_costs_the_same_queries_however_many_copies(
    patient_client, patient, warm_worker, django_assert_max_num_queries
):
    for days in range(1, 9):
        copy = ready_copy(patient)
        RecordCopy.objects.filter(pk=copy.pk).update(requested_at=timezone.now() - timedelta(days=days))
    # Session, user and its roles, the patient, the copies: nothing per copy.
    with django_assert_max_num_queries(7):
        response = patient_client.get(PAGE)
    assert response.status_code == 200
    assert response.content.decode().count("Asked for on") == 5  # the newest, then the five before it


# --- What the zip holds ------------------------------------------------------------------------------------------


@pytest.fixture
def visits(patient, document_storage):
    """Two signed visits of the patient's, each with its aftercare sheet and visit summary."""
    return [signed_visit(patient, days_ago=9, sites=2), signed_visit(patient, days_ago=2, sites=3)]


def built(patient) -> RecordCopy:
    copy = services.copy_request(patient=patient, by=patient.user).copy
    assert services.copy_build(copy.pk)
    copy.refresh_from_db()
    return copy


def test_the_zip_holds_the_fhir_bundle_every_ready_pdf_and_a_summary(patient, visits, other_patient):
    signed_visit(other_patient)  # someone else's PDFs are never in it
    make_appointment(patient, timezone.now() + timedelta(days=5))
    copy = built(patient)

    assert copy.status == CopyStatus.READY and copy.expires_at == copy.ready_at + timedelta(days=7)
    with default_storage.open(copy.file_name, "rb") as stored:
        content = stored.read()
    assert (len(content), hashlib.sha256(content).hexdigest()) == (copy.size_bytes, copy.sha256)
    members = read_zip(content)
    pdfs = sorted(name for name in members if name.endswith(".pdf"))
    assert len(pdfs) == 4 and all(name.startswith("documents/") for name in pdfs)
    assert set(members) == {"record.fhir.json", "summary.html", *pdfs}

    bundle = bundle_of(members)
    kinds = [entry.resource.__resource_type__ for entry in bundle.entry]
    [person] = [entry.resource for entry in bundle.entry if entry.resource.__resource_type__ == "Patient"]
    assert person.name[0].family == patient.family_name
    # A Procedure per signed session; a DocumentReference per PDF, carrying the SHA-256 the zip's file has.
    assert kinds.count("Procedure") == 2 and kinds.count("DocumentReference") == 4
    zipped = {hashlib.sha256(members[name]).hexdigest() for name in pdfs}
    referenced = {
        extension.valueString
        for entry in bundle.entry
        if entry.resource.__resource_type__ == "DocumentReference"
        for content in entry.resource.content
        for extension in content.attachment.extension
        if extension.url.endswith("sha256")
    }
    assert len(zipped) == 4 and zipped == referenced

    for session in visits:
        nerves = [site.nerve.name for site in session.sites.select_related("nerve")]
        day = timezone.localdate(session.performed_at).isoformat()
        of_visit = [name for name in pdfs if day in name]
        assert len(of_visit) == 2, pdfs
        for name in of_visit:
            text = pdf_text(members[name])
            assert all(nerve in text for nerve in nerves), name


def test_the_summary_names_the_patient_s_sessions_in_plain_words(patient, visits, other_patient):
    copy = built(patient)
    summary = stored_zip(copy)["summary.html"].decode()
    assert patient.full_name in summary and patient.clinic_number in summary
    for session in visits:
        assert timezone.localtime(session.performed_at).strftime("%A %-d %B %Y") in summary
        for site in session.sites.select_related("nerve"):
            assert site.nerve.name in summary
        assert f"{session.total_volume_ml} mL" in summary
    assert summary.count('class="session"') == 2
    assert "Left" in summary  # the side, in words
    assert "still valid" in summary  # the consent the sessions were given under
    # Self-contained: nothing is fetched or run when it is opened.
    assert "<script" not in summary and "src=" not in summary and "http" not in summary.split("<body>")[0]


def test_a_patient_with_nothing_yet_gets_a_zip_saying_so(patient, document_storage):
    members = stored_zip(built(patient))
    assert sorted(members) == ["record.fhir.json", "summary.html"]
    summary = members["summary.html"].decode()
    assert "No signed session notes yet." in summary and "No documents yet." in summary
    bundle_of(members)


def test_a_pdf_whose_stored_file_was_altered_is_left_out_and_rebuilt(patient, visits):
    damaged = Document.objects.filter(session=visits[0], kind=DocumentKind.AFTERCARE).get()
    with default_storage.open(damaged.file_name, "wb") as stored:
        stored.write(b"%PDF-1.7 not what was made")
    members = stored_zip(built(patient))
    assert len([name for name in members if name.endswith(".pdf")]) == 3
    assert "Not included: its stored copy failed a check" in members["summary.html"].decode()
    damaged.refresh_from_db()
    assert damaged.status == DocumentStatus.PENDING and damaged.rebuild_requested_at is not None


# --- Ready, and its email ----------------------------------------------------------------------------------------


def test_becoming_ready_owes_one_email_which_says_nothing_clinical(patient, visits, settings):
    copy = built(patient)
    assert not services.copy_build(copy.pk)  # a second message finds it ready, and owes nothing more
    [owed] = OutboxEmail.objects.filter(kind=EmailKind.RECORD_COPY_READY)
    assert owed.object_id == copy.pk

    assert email_send(owed.pk)
    assert not email_send(owed.pk)
    [message] = mail.outbox
    assert message.to == [patient.email]
    assert message.subject == "Your copy is ready to download"
    assert f"{settings.SITE_URL}{PAGE}" in message.body
    nerves = {site.nerve.name for session in visits for site in session.sites.select_related("nerve")}
    for private in (*nerves, patient.given_name, patient.family_name, "PIT", "dextrose", "injection"):
        assert private not in message.body and private not in message.subject, private


def test_no_email_goes_for_a_copy_that_expired_before_it_was_sent(patient, document_storage):
    copy = ready_copy(patient, expires_at=timezone.now() - timedelta(minutes=1))
    assert services.ready_email_send(copy.pk) is False
    assert mail.outbox == []


# --- Downloading ---------------------------------------------------------------------------------------------------


def test_the_patient_downloads_their_copy_checked_counted_and_audited(patient_client, patient, document_storage):
    copy = ready_copy(patient)
    response = patient_client.get(download_url(copy))
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert hashlib.sha256(content).hexdigest() == copy.sha256
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="my-record-')
    assert response["Cache-Control"] == "no-store"
    assert read_zip(content)["summary.html"] == b"<p>summary</p>"
    copy.refresh_from_db()
    assert copy.download_count == 1 and copy.downloaded_at is not None
    [event] = AuditEvent.objects.filter(action=Action.EXPORT, patient=patient)
    assert event.actor == patient.user and event.object_id == str(copy.pk)
    assert event.detail["export"] == "record_copy" and event.detail["sha256"] == copy.sha256


def test_another_patient_s_copy_is_not_found_and_the_refusal_audited(client, patient, document_storage):
    copy = ready_copy(patient)
    someone = PatientFactory(user=UserFactory(username="dana", role=Role.PATIENT)).user
    client.force_login(someone)
    assert client.get(download_url(copy)).status_code == 404
    assert client.get(reverse("portal:record_copy_download", args=[copy.pk + 1000])).status_code == 404
    assert AuditEvent.objects.filter(action=Action.ACCESS_DENIED, patient=patient).count() == 1
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


def test_staff_cannot_download_a_copy_through_the_portal(clinician_client, manager_client, patient, document_storage):
    copy = ready_copy(patient)
    assert clinician_client.get(download_url(copy)).status_code == 403
    assert manager_client.get(download_url(copy)).status_code == 403
    assert manager_client.post(PAGE).status_code == 403
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


def test_an_expired_copy_answers_410_asking_for_a_new_one_and_the_sweeper_deletes_it(
    patient_client, patient, document_storage
):
    copy = ready_copy(patient, expires_at=timezone.now() - timedelta(seconds=1))
    response = patient_client.get(download_url(copy))
    assert response.status_code == 410
    text = response.content.decode()
    assert "This copy has expired" in text and "Please ask for a new one" in text
    assert default_storage.exists(copy.file_name)

    assert services.copies_sweep()["deleted"] == [copy.pk]
    stored_as = copy.file_name
    copy.refresh_from_db()
    assert (copy.status, copy.file_name, copy.sha256) == (CopyStatus.EXPIRED, "", copy.sha256)
    assert not default_storage.exists(stored_as)
    assert patient_client.get(download_url(copy)).status_code == 410
    assert "Expired" in patient_client.get(PAGE).content.decode()
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


def test_a_damaged_copy_is_410_offered_no_more_and_a_new_one_may_be_asked_for(
    patient_client, patient, document_storage, sent
):
    copy = ready_copy(patient)
    with default_storage.open(copy.file_name, "wb") as stored:
        stored.write(b"PK not the zip we made")
    response = patient_client.get(download_url(copy))
    assert response.status_code == 410
    assert "The stored file no longer matches the copy we made" in response.content.decode()
    copy.refresh_from_db()
    assert copy.status == CopyStatus.FAILED and copy.error == services.FILE_LOST
    assert patient_client.post(PAGE).status_code == 302  # not held up by the rate limit
    assert not AuditEvent.objects.filter(action=Action.EXPORT).exists()


def test_a_store_that_does_not_answer_is_503_try_again(patient_client, patient, document_storage, monkeypatch):
    copy = ready_copy(patient)

    def no_answer(*args, **kwargs):
        raise ConnectionRefusedError("the store is down")

    monkeypatch.setattr(FileSystemStorage, "open", no_answer)
    response = patient_client.get(download_url(copy))
    assert response.status_code == 503 and response["Retry-After"] == "120"
    assert "Please try again in a few minutes" in response.content.decode()
    copy.refresh_from_db()
    assert copy.status == CopyStatus.READY  # an outage is not damage


def test_a_copy_not_ready_yet_is_409(patient_client, patient):
    copy = requested(patient)
    response = patient_client.get(download_url(copy))
    assert response.status_code == 409 and "not ready yet" in response.content.decode()


# --- A worker that died, and failures ---------------------------------------------------------------------------


def test_the_sweeper_sends_again_a_copy_a_dead_worker_held_and_it_is_built_once(
    patient, document_storage, sent, django_capture_on_commit_callbacks
):
    long_ago = timezone.now() - timedelta(hours=1)
    copy = requested(patient, status=CopyStatus.BUILDING, claimed_at=long_ago, enqueued_at=long_ago, attempts=1)
    fresh = requested(PatientFactory(user=UserFactory(role=Role.PATIENT)), enqueued_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert services.copies_sweep()["sent"] == [copy.pk]  # the fresh one is left to its own message
    assert sent == [copy.pk]
    copy.refresh_from_db()
    assert (copy.status, copy.claimed_at) == (CopyStatus.PENDING, None)
    assert services.copy_build(copy.pk)
    copy.refresh_from_db()
    assert (copy.status, copy.attempts) == (CopyStatus.READY, 2)
    assert OutboxEmail.objects.filter(kind=EmailKind.RECORD_COPY_READY, object_id=copy.pk).count() == 1
    fresh.refresh_from_db()
    assert fresh.status == CopyStatus.PENDING


def test_a_run_whose_claim_was_taken_over_stores_nothing(patient, document_storage, monkeypatch):
    copy = requested(patient)
    write = package.write_package

    def slow_write(target, patient):
        # Meanwhile the sweeper takes this run for dead and hands the copy on.
        services.copies_sweep(older_than=timedelta(0))
        return write(target, patient)

    monkeypatch.setattr(package, "write_package", slow_write)
    assert services.copy_build(copy.pk) is False
    copy.refresh_from_db()
    assert (copy.status, copy.file_name) == (CopyStatus.PENDING, "")
    assert not OutboxEmail.objects.filter(kind=EmailKind.RECORD_COPY_READY).exists()
    assert not default_storage.exists(services.storage_name(copy))


def test_an_error_that_will_not_clear_fails_the_copy_with_its_reason(patient, document_storage, monkeypatch):
    copy = requested(patient)

    def broken(target, patient):
        raise ValueError("Charlie Day's record could not be read")  # its message is never kept

    monkeypatch.setattr(package, "write_package", broken)
    tasks.build_record_copy.apply(args=[copy.pk])
    copy.refresh_from_db()
    assert (copy.status, copy.error) == (CopyStatus.FAILED, "Preparing the copy failed (ValueError).")
    assert not default_storage.exists(services.storage_name(copy))


def test_a_storage_outage_while_building_leaves_it_pending_for_a_retry(patient, visits, monkeypatch):
    copy = requested(patient)

    def no_answer(*args, **kwargs):
        raise StorageUnavailable("the document store did not answer")

    monkeypatch.setattr(package, "read_verified", no_answer)
    with pytest.raises(StorageUnavailable):
        services.copy_build(copy.pk)
    copy.refresh_from_db()
    assert (copy.status, copy.claimed_at, copy.file_name) == (CopyStatus.PENDING, None, "")
    assert "StorageUnavailable" in copy.error


def test_a_copy_that_kills_its_worker_every_time_is_failed_after_five_runs(patient, document_storage):
    long_ago = timezone.now() - timedelta(hours=1)
    copy = requested(patient, status=CopyStatus.BUILDING, claimed_at=long_ago, attempts=5)
    assert services.copy_build(copy.pk) is False
    copy.refresh_from_db()
    assert copy.status == CopyStatus.FAILED and "Gave up after 5 attempts" in copy.error


def test_an_old_stored_file_is_untouched_by_a_copy_that_never_became_ready(patient, document_storage):
    # A leftover under the copy's name (a run that stored, then lost its commit) is overwritten by the next run.
    copy = requested(patient)
    default_storage.save(services.storage_name(copy), ContentFile(b"half a zip"))
    copy = built_again(copy)
    assert "summary.html" in stored_zip(copy)


def built_again(copy: RecordCopy) -> RecordCopy:
    assert services.copy_build(copy.pk)
    copy.refresh_from_db()
    return copy
