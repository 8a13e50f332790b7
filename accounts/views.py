from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import Role
from patients.models import Patient


@login_required
def home(request: HttpRequest) -> HttpResponse:
    if request.user.has_role(Role.PATIENT):
        patient = Patient.objects.filter(user=request.user).first()
        return render(request, "accounts/patient_home.html", {"patient": patient})
    return render(request, "accounts/staff_home.html")
