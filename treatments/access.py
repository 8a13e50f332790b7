from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Now
from django.http import Http404

from accounts.models import User
from audit.refusals import not_found
from treatments.models import InjectionSession, TreatmentCourse


# `course_booked_ahead`: whether the course has a live appointment from now on, so a signed note offers
# "Book next" only when nothing is booked.
def _session_note(pk: int) -> QuerySet[InjectionSession]:
    from scheduling.models import Appointment, AppointmentStatus

    related = ("course__patient__intake", "course__condition", "consent__consent_text", "clinician", "signed_by")
    booked_ahead = Appointment.objects.filter(course_id=OuterRef("course_id"), starts_at__gte=Now()).exclude(
        status=AppointmentStatus.CANCELLED
    )
    note = InjectionSession.objects.select_related(*related).annotate(course_booked_ahead=Exists(booked_ahead))
    return note.filter(pk=pk)


def get_course_for(user: User, pk: int) -> TreatmentCourse:
    """The course, if this user may see it; otherwise 404, exactly as if missing."""
    if not user.is_authenticated:
        raise Http404
    if not user.has_perm("treatments.view_treatmentcourse"):
        raise not_found("course", pk, TreatmentCourse.objects.all())
    course = TreatmentCourse.objects.select_related("patient__intake", "condition").filter(pk=pk).first()
    if course is None:
        raise Http404("No such course.")
    return course


def get_session_for(user: User, pk: int) -> InjectionSession:
    """The session note, for users who may read clinical content; otherwise 404."""
    if not user.is_authenticated:
        raise Http404
    if not user.has_perm("treatments.view_injectionsession"):
        raise not_found("session", pk, InjectionSession.objects.all(), patient_field="course__patient_id")
    session = _session_note(pk).first()
    if session is None:
        raise Http404("No such session.")
    return session
