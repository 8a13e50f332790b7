"""Between-visit questions through the real broker and a real worker: beat ticks run twice (once here, twice in
the worker) still email each request once, and the emailed link opens the form that keeps the answers."""

import re

import pytest
from django.test import Client

from outcomes.models import PatientReport
from outcomes.tasks import send_due_measure_requests
from pit_portal.outbox.models import EmailKind, EmailStatus, OutboxEmail
from tests.outcomes.helpers import closed_course, end_request

pytestmark = pytest.mark.worker

LINK = re.compile(rb"https?://\S+?(/measures/\S+/)")
TICK_DONE = re.compile(r"Task outcomes\.tasks\.send_due_measure_requests\[([0-9a-f-]+)\] succeeded")


def test_duplicated_beat_ticks_email_once_and_the_link_keeps_the_answers(
    reference_data, celery_worker_process, wait_for
):
    course = closed_course()
    request = end_request(course)
    send_due_measure_requests.apply()  # a tick in this process: owes the email, its message goes to the worker
    ticks = {send_due_measure_requests.delay().id for _ in range(2)}  # two more, run by the worker itself
    log = celery_worker_process.log

    def sent() -> bool:
        done = set(TICK_DONE.findall(log.read_text(errors="replace")))
        owed = OutboxEmail.objects.filter(kind=EmailKind.MEASURE_REQUEST, object_id=request.pk)
        return ticks <= done and owed.filter(status=EmailStatus.SENT).count() == 1

    wait_for(sent, timeout=40, what="the questions to be emailed", log=log)
    assert OutboxEmail.objects.filter(kind=EmailKind.MEASURE_REQUEST).count() == 1
    [email_file] = list(celery_worker_process.mail_dir.iterdir())
    text = email_file.read_bytes().replace(b"=\n", b"")
    [path] = LINK.findall(text)
    request.refresh_from_db()
    assert request.sent_at is not None

    patient = Client()
    assert patient.get(path.decode()).status_code == 200
    answers = {"nrs_now": "1", "nrs_average": "2", "peg_enjoyment": "2", "peg_activity": "3", "pgic": "1",
               "had_reaction": "False"}  # fmt: skip
    assert patient.post(path.decode(), answers).status_code == 200
    assert PatientReport.objects.get(course=course).nrs_now == 1
