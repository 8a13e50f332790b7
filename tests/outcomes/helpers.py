"""Courses closed through the product's own service, and the links their questions carry."""

import re

from django.core import mail

from outcomes.models import MeasureRequest, Moment
from tests.factories import CourseFactory, PatientFactory, signed_session
from tests.portal.helpers import in_days, make_appointment
from treatments import services as treatment_services
from treatments.models import CourseStatus, TreatmentCourse

LINK = re.compile(r"https?://\S+/measures/(\S+)/")


def closed_course(patient=None, *, status: str = CourseStatus.COMPLETED, pre_nrs: int = 6) -> TreatmentCourse:
    """A course with one signed session (pain before it `pre_nrs`), closed today through the service."""
    patient = patient or PatientFactory(email="ruth@example.org")
    course = CourseFactory(patient=patient)
    signed_session(course=course, pre_nrs=pre_nrs, post_nrs=max(0, pre_nrs - 3))
    reason = {"stop_reason": "no_benefit"} if status == CourseStatus.DISCONTINUED else {}
    return treatment_services.course_close(course=course, status=status, final_pgic=2, **reason)


def end_request(course: TreatmentCourse) -> MeasureRequest:
    return MeasureRequest.objects.get(course=course, moment=Moment.COURSE_END, cancelled_at__isnull=True)


def emailed_link_path(request: MeasureRequest) -> str:
    """Send the request's email through the product's sender and return the path of the link it carries."""
    from outcomes.services import request_send

    assert request_send(request.pk)
    match = LINK.search(mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return f"/measures/{match.group(1)}/"


def appointment_in_course(course: TreatmentCourse, days: float = 1):
    """A booked appointment of the course `days` from now (inside the pre-session questions' two days by default)."""
    appointment = make_appointment(course.patient, in_days(days))
    appointment.course = course
    appointment.save(update_fields=["course"])
    return appointment
