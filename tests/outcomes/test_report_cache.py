"""The outcomes report is kept in the shared cache under the data's version: read again unchanged it is not counted
again, and any change to what it counts is on the next page at once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from outcomes.models import Moment
from tests.outcomes.builders import PageTables, ask, close, course, session

pytestmark = pytest.mark.django_db

URL = reverse("outcomes:report")


def all_courses(client) -> tuple[list[str], int]:
    """The "All courses" row, and how many queries the page took."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)
    assert response.status_code == 200
    (cells,) = PageTables(response.text).tables["All courses"]
    return cells[1:], len(queries)


def test_unchanged_data_is_not_counted_again_and_each_change_shows_at_once(clinician_client, clinician):
    courses = [course(baseline=10, clinician=clinician, started=100) for _ in range(5)]
    for treated in courses:
        session(treated, 1, 8, days=90)  # 20% better: not yet a responder
        close(treated)
    first, counted = all_courses(clinician_client)
    again, cached = all_courses(clinician_client)
    assert again == first and cached < counted - 2  # the course readings were not run again
    assert first[2] == "0/5 (0%)"

    ask(courses[0], Moment.COURSE_END, days=80, nrs=4)  # a patient's answer: 60% better
    assert all_courses(clinician_client)[0][2] == "1/5 (20%)"
    session(courses[1], 2, 5, days=85)  # a signed note: 50% better
    assert all_courses(clinician_client)[0][2] == "2/5 (40%)"
    type(courses[3]).objects.filter(pk=courses[3].pk).update(status="active", closed_on=None, final_pgic=None)
    assert all_courses(clinician_client)[0][0:2] == ["5", "4"]  # started, completed
