"""An active course with no visit and no answer from the patient for 8 weeks is marked on the recall list."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from outcomes.models import EnteredVia, MeasureRequest, Moment, PatientReport
from scheduling.queries import recall_list
from tests.factories import CourseFactory, SessionFactory

pytestmark = pytest.mark.django_db


def ago(days: int):
    return timezone.now() - timedelta(days=days)


def report_on(course, when) -> None:
    request = MeasureRequest.objects.create(
        patient=course.patient, course=course, moment=Moment.AFTER_COURSE, days_after_course=91, ask_nrs=True,
        ask_peg=False, ask_pgic=False, ask_further_treatment=False, due_at=when - timedelta(hours=1),
        expires_at=when + timedelta(days=20), sent_at=when - timedelta(hours=1), answered_at=when,
    )  # fmt: skip
    PatientReport.objects.create(request=request, patient=course.patient, course=course, nrs_now=4,
                                 nrs_average=4, entered_via=EnteredVia.LINK, submitted_at=when)  # fmt: skip


def test_eight_weeks_without_a_visit_or_an_answer(front_desk_client):
    started_long_ago = timezone.localdate() - timedelta(days=200)
    quiet = CourseFactory(started_on=started_long_ago)
    SessionFactory(course=quiet, performed_at=ago(57))
    seen = CourseFactory(started_on=started_long_ago)
    SessionFactory(course=seen, performed_at=ago(55))
    answered = CourseFactory(started_on=started_long_ago)
    SessionFactory(course=answered, performed_at=ago(90))
    report_on(answered, ago(10))
    new = CourseFactory(started_on=timezone.localdate() - timedelta(days=20))  # nothing yet, but only just begun
    old_and_empty = CourseFactory(started_on=timezone.localdate() - timedelta(days=60))
    marked = {course.pk: course.lost_to_follow_up for course in recall_list()}
    assert marked == {quiet.pk: True, seen.pk: False, answered.pk: False, new.pk: False, old_and_empty.pk: True}
    page = front_desk_client.get(reverse("scheduling:recall")).content.decode()
    row = page[page.index(f'id="recall-course-{quiet.pk}"') :]
    assert "Lost to follow-up?" in row[: row.index("</tr>")]
    row = page[page.index(f'id="recall-course-{seen.pk}"') :]
    assert "Lost to follow-up?" not in row[: row.index("</tr>")]
