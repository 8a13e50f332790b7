from django.http import Http404

from accounts.models import User
from assessments.models import Assessment


def get_assessment_for(user: User, pk: int) -> Assessment:
    """The assessment, for users who may read clinical content; otherwise 404, exactly as if missing."""
    if not (user.is_authenticated and user.has_perm("assessments.view_assessment")):
        raise Http404
    assessments = Assessment.objects.select_related("patient__intake", "condition", "clinician", "course")
    try:
        return assessments.get(pk=pk)
    except Assessment.DoesNotExist:
        raise Http404("No such assessment.") from None
