from django.http import Http404

from accounts.models import User
from assessments.models import Assessment
from audit.refusals import not_found


def get_assessment_for(user: User, pk: int) -> Assessment:
    """The assessment, for users who may read clinical content; otherwise 404, exactly as if missing."""
    if not user.is_authenticated:
        raise Http404
    if not user.has_perm("assessments.view_assessment"):
        raise not_found("assessment", pk, Assessment.objects.all())
    assessments = Assessment.objects.select_related("patient__intake", "condition", "clinician", "course")
    try:
        return assessments.get(pk=pk)
    except Assessment.DoesNotExist:
        raise Http404("No such assessment.") from None
