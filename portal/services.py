"""Portal actions with side effects: invitations, accepting one, and a patient's own cancellation.

Emails go out from the worker after commit; task messages carry ids only (never a token or an address).
"""

import logging
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, User
from patients.models import Patient, PatientConsent
from pit_portal.outbox.models import EmailKind
from pit_portal.outbox.services import email_owe, send_templated_mail
from portal import queries
from portal.models import CheckIn, PatientInvite
from scheduling import services as scheduling_services
from scheduling.models import Appointment

logger = logging.getLogger(__name__)

# Staff reading the diary should see at a glance that the patient cancelled, not the desk.
PATIENT_CANCEL_PREFIX = "By the patient online: "
CONTACT_FIELDS = ("phone", "email", "address_line1", "address_line2", "town", "postcode", "preferred_contact")


class InviteState(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    USED = "used"
    REVOKED = "revoked"


def _email_taken(email: str, exclude_user_id: int | None = None) -> bool:
    users = User.objects.filter(email__iexact=email)
    if exclude_user_id is not None:
        users = users.exclude(pk=exclude_user_id)
    return users.exists()


def _check_invitable(patient: Patient) -> None:
    if patient.user_id is not None:
        raise ValidationError("This patient already has a portal account.", code="has_account")
    if not patient.email:
        raise ValidationError("Add the patient's email address before inviting them.", code="no_email")
    if _email_taken(patient.email):
        raise ValidationError("Another sign-in already uses this email address.", code="email_taken")


@transaction.atomic
def invite_create(*, patient: Patient, by: User) -> PatientInvite:
    """Revoke any open invitation for the patient, record a new one and have the worker email it."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    _check_invitable(patient)
    now = timezone.now()
    PatientInvite.objects.filter(patient=patient, used_at=None, revoked_at=None).update(revoked_at=now)
    invite = PatientInvite.objects.create(
        patient=patient,
        # A placeholder no one ever sees: the real token is made in the worker, so it never sits on the broker.
        token_sha256=PatientInvite.digest(PatientInvite.new_token()),
        email=patient.email,
        expires_at=now + timedelta(days=settings.PORTAL_INVITE_DAYS),
        created_by=by,
    )
    email_owe(kind=EmailKind.INVITATION, object_id=invite.pk)
    return invite


def invite_state(invite: PatientInvite, now: datetime | None = None) -> InviteState:
    now = now or timezone.now()
    if invite.used_at is not None:
        return InviteState.USED
    if invite.revoked_at is not None:
        return InviteState.REVOKED
    if invite.expires_at <= now:
        return InviteState.EXPIRED
    return InviteState.VALID


def invite_for_token(token: str) -> PatientInvite | None:
    return PatientInvite.objects.select_related("patient").filter(token_sha256=PatientInvite.digest(token)).first()


def invite_send(invite_id: int) -> bool:
    """Give the invitation a fresh token, keep only its hash, and email the link. Returns whether one was sent.

    Run again (a retry, a redelivered message), it sends a new link and the earlier one stops working.
    The send is inside the transaction, so a failed send keeps the old hash and the retry starts clean.
    """
    with transaction.atomic():
        invite = PatientInvite.objects.select_for_update().select_related("patient").filter(pk=invite_id).first()
        if invite is None or invite_state(invite) != InviteState.VALID or invite.patient.user_id is not None:
            return False
        token = PatientInvite.new_token()
        invite.token_sha256 = PatientInvite.digest(token)
        invite.save(update_fields=["token_sha256"])
        context = {
            "name": invite.patient.preferred_name or invite.patient.given_name,
            "link": settings.SITE_URL + reverse("portal:invite_accept", kwargs={"token": token}),
            "expires_at": timezone.localtime(invite.expires_at),
            "clinic": {"name": settings.CLINIC_NAME, "phone": settings.CLINIC_PHONE},
        }
        send_templated_mail("portal/email/invite", context, invite.email)
    logger.info("Sent portal invite %s", invite_id)
    return True


@transaction.atomic
def invite_accept(*, invite: PatientInvite, username: str, password: str) -> User:
    """Create the patient's sign-in, link it to their record and use up the invitation.

    Rows are locked and the state checked again: two tabs submitting the same link make one account."""
    invite = PatientInvite.objects.select_for_update().get(pk=invite.pk)
    patient = Patient.objects.select_for_update().get(pk=invite.patient_id)
    if invite_state(invite) != InviteState.VALID or patient.user_id is not None:
        raise ValidationError("This invitation can no longer be used.", code="invite_gone")
    if _email_taken(invite.email):
        raise ValidationError("Another sign-in already uses this email address. Please call the clinic.")
    user = User(username=username, email=invite.email, first_name=patient.given_name, last_name=patient.family_name)
    user.set_password(password)
    user.save()
    user.groups.add(Group.objects.get(name=Role.PATIENT.value))
    patient.user = user
    patient.save(update_fields=["user", "updated_at"])
    now = timezone.now()
    invite.used_at = now
    invite.save(update_fields=["used_at"])
    PatientInvite.objects.filter(patient=patient, used_at=None, revoked_at=None).update(revoked_at=now)
    return user


@transaction.atomic
def check_in_submit(*, appointment: Appointment, patient: Patient, answers: dict, by: User) -> CheckIn:
    """Record the patient's answers, or replace their earlier ones for the same appointment; the first answers
    also answer the visit's pre-session questions (outcomes), so the patient is not asked twice.

    update_or_create, not a form save: a double-click sends two first check-ins at once, and the second
    must update the row the first made instead of failing on the one-check-in-per-appointment key."""
    from outcomes.services import answer_from_check_in  # outcomes reads portal's CheckIn

    check_in, _ = CheckIn.objects.update_or_create(appointment=appointment, defaults={"patient": patient, **answers})
    answer_from_check_in(check_in, by)
    return check_in


@transaction.atomic
def contact_details_update(*, patient: Patient, user: User) -> Patient:
    """Save the patient's own contact changes; the sign-in's email follows, so a password reset reaches them.

    A cleared email leaves the sign-in's address alone: the patient must still be able to reset their password.
    So does an address another sign-in uses (sign-in addresses are unique): the record keeps what the patient
    wrote, and the page answers as for any other address, so it tells nobody whether that address has an account.
    """
    patient.save(update_fields=[*CONTACT_FIELDS, "updated_at"])
    if patient.email and patient.email.lower() != user.email.lower() and not _email_taken(patient.email, user.pk):
        user.email = patient.email
        user.save(update_fields=["email"])
    return patient


@transaction.atomic
def appointment_cancel_by_patient(*, appointment: Appointment, reason: str, by: User) -> Appointment:
    """The patient cancels their own appointment, at least the notice period ahead.

    The scheduling service frees the slot and emails the patient; the front desk hears from the worker."""
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if not queries.can_cancel_online(appointment):
        raise ValidationError("This appointment is too close to cancel online.", code="too_late")
    if not reason.strip():
        raise ValidationError("Tell us briefly why you are cancelling.")
    appointment = scheduling_services.appointment_cancel(
        appointment=appointment, reason=PATIENT_CANCEL_PREFIX + reason.strip(), by=by
    )
    if settings.CLINIC_EMAIL:
        email_owe(kind=EmailKind.DESK_CANCELLATION, object_id=appointment.pk)
    return appointment


def front_desk_cancellation_send(appointment_id: int) -> bool:
    """Email the clinic that a patient cancelled online. Clinic number, time and clinician only:
    no name, no reason (it may be clinical), as the clinic inbox may be read on shared screens."""
    if not settings.CLINIC_EMAIL:
        return False
    appointment = Appointment.objects.select_related("patient", "clinician").filter(pk=appointment_id).first()
    if appointment is None:
        return False
    context = {
        "appointment": appointment,
        "starts_at": timezone.localtime(appointment.starts_at),
        "link": settings.SITE_URL + reverse("scheduling:appointment", kwargs={"pk": appointment.pk}),
    }
    send_templated_mail("portal/email/cancelled", context, settings.CLINIC_EMAIL)
    logger.info("Told the front desk of the online cancellation of appointment %s", appointment_id)
    return True


def consent_withdrawal_send(consent_id: int) -> bool:
    """Email the clinic that a patient's consent was withdrawn, so no one treats them unawares. Clinic number,
    date and how it was withdrawn only: no name and no reason, as for an online cancellation."""
    if not settings.CLINIC_EMAIL:
        return False
    consent = PatientConsent.objects.select_related("patient", "consent_text").filter(pk=consent_id).first()
    if consent is None or consent.withdrawn_at is None:
        return False
    context = {
        "consent": consent,
        "withdrawn_at": timezone.localtime(consent.withdrawn_at),
        "link": settings.SITE_URL + reverse("patients:detail", kwargs={"pk": consent.patient_id}),
    }
    send_templated_mail("portal/email/consent_withdrawn", context, settings.CLINIC_EMAIL)
    logger.info("Told the clinic of the withdrawn consent %s", consent_id)
    return True
