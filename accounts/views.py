from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from accounts.decorators import AuthenticatedHttpRequest
from accounts.models import Role
from patients.models import Patient
from treatments import queries


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.user.has_role(Role.PATIENT):
        patient = Patient.objects.filter(user=request.user).first()
        return render(request, "accounts/patient_home.html", {"patient": patient})
    context = {}
    if request.user.has_perm("treatments.view_injectionsession"):
        context = {
            "sessions_today": list(queries.sessions_today(request.user)),
            "stale_drafts": list(queries.stale_drafts(request.user)),
            "due_for_review": list(queries.courses_due_for_review()),
        }
    return render(request, "accounts/staff_home.html", context)
