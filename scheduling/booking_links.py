"""The patient page's ways into booking, built from the courses and appointments the page has already read, so
they cost no query. They reuse the booking form's and "Book next"'s own query parameters (?patient=, ?course=,
?session=), which check again what the links only propose."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from scheduling.models import AppointmentStatus
from scheduling.queries import PatientAppointments
from treatments.sections import CourseLine


def book_url(patient_id: int, courses: Sequence[CourseLine]) -> str:
    """The booking form for the patient, with their newest open course chosen (the form offers the others).
    `courses` is empty for a role that may not see courses, and then no course is named."""
    params = {"patient": patient_id}
    open_course = next((course for course in courses if course.is_active), None)
    if open_course is not None:
        params["course"] = open_course.pk
    return f"{reverse('scheduling:book')}?{urlencode(params)}"


def sessions_to_book_next(
    courses: Iterable[CourseLine], appointments: PatientAppointments, now: datetime | None = None
) -> set[int]:
    """The ids of the sessions that offer "Book next": the last session of each open course when it is signed and
    nothing in that course is booked from now on, the follow-up nobody has booked yet. A draft offers "Sign and
    book next" on its own page instead."""
    now = now or timezone.now()
    # Courses with a live appointment starting from now on (the recall list's rule, scheduling.queries).
    booked_ahead = {
        appointment.course_id
        for appointment in appointments.upcoming
        if appointment.starts_at >= now and appointment.status != AppointmentStatus.CANCELLED
    }
    return {
        course.sessions[-1].pk
        for course in courses
        if course.is_active and course.sessions and course.sessions[-1].is_signed and course.pk not in booked_ahead
    }
