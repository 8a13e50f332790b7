from django.db import transaction

from accounts.models import User
from assessments.models import Assessment, PainArea


@transaction.atomic
def assessment_record(
    *, assessment: Assessment, pain_areas: list[dict], activities, analgesics, nerves, by: User
) -> Assessment:
    """Save an assessment with its body map, PSFS activities, analgesic use and contributing nerves."""
    assessment.clinician = by
    assessment.full_clean()
    assessment.save()
    PainArea.objects.bulk_create(PainArea(assessment=assessment, **area) for area in pain_areas)
    for formset in (activities, analgesics, nerves):
        formset.instance = assessment
        formset.save()
    return assessment
