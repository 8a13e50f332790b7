from django.http import Http404

from accounts.models import User
from treatments.models import InjectionSession, TreatmentCourse


def get_course_for(user: User, pk: int) -> TreatmentCourse:
    """The course, if this user may see it; otherwise 404, exactly as if missing."""
    if not (user.is_authenticated and user.has_perm("treatments.view_treatmentcourse")):
        raise Http404
    try:
        return TreatmentCourse.objects.select_related("patient__intake", "condition").get(pk=pk)
    except TreatmentCourse.DoesNotExist:
        raise Http404("No such course.") from None


def get_session_for(user: User, pk: int) -> InjectionSession:
    """The session note, for users who may read clinical content; otherwise 404."""
    if not (user.is_authenticated and user.has_perm("treatments.view_injectionsession")):
        raise Http404
    sessions = InjectionSession.objects.select_related(
        "course__patient__intake", "course__condition", "clinician", "signed_by", "consent__consent_text"
    )
    try:
        return sessions.get(pk=pk)
    except InjectionSession.DoesNotExist:
        raise Http404("No such session.") from None
