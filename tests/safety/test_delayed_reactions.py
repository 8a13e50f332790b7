"""A reaction the patient reports after a session: the service other code calls, the portal page, and the rows the
database keeps exactly as reported."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from safety import services
from safety.models import MAX_DESCRIPTION_LENGTH, AdverseEventFollowUp, DelayedReaction, ReportedVia
from tests.factories import CourseFactory, SessionFactory, signed_session

REPORT = reverse("safety:report_reaction")


def _report(**overrides) -> dict:
    return {"kind": "infection", "severity": "moderate", "description": "Red and hot round the injection site.",
            **overrides}  # fmt: skip


# --- The service ---------------------------------------------------------------------------------------------


def test_a_report_attaches_to_the_patients_latest_signed_session_and_is_open(patient, clinician, signed):
    signed_session(
        course=signed.course, clinician=clinician, number=2, performed_at=signed.performed_at - timedelta(days=7)
    )
    later_draft = timezone.now() - timedelta(hours=1)
    SessionFactory(course=signed.course, clinician=clinician, number=3, performed_at=later_draft)  # not a choice
    reaction = services.delayed_reaction_report(
        patient=patient, description="  Bruise spread to the knee.  ", severity="mild", via=ReportedVia.STAFF,
        by=clinician,
    )  # fmt: skip
    assert reaction.session == signed
    assert (reaction.kind, reaction.description, reaction.reported_by) == (
        "other",
        "Bruise spread to the knee.",
        clinician,
    )
    assert not AdverseEventFollowUp.objects.filter(delayed_reaction=reaction).exists()  # no follow-up yet: open


def test_without_a_signed_session_the_service_says_so_and_saves_nothing(patient, clinician):
    SessionFactory(course=CourseFactory(patient=patient, created_by=clinician), clinician=clinician)  # a draft only
    with pytest.raises(ValidationError) as refused:
        services.delayed_reaction_report(patient=patient, description="Sore", severity="mild", via="between_visit_form")
    assert refused.value.messages == [services.NO_SIGNED_SESSION]
    assert "no signed session note" in services.NO_SIGNED_SESSION
    assert not DelayedReaction.objects.exists()


def test_the_service_refuses_another_patients_session(patient, other_patient, clinician):
    theirs = signed_session(course=CourseFactory(patient=other_patient, created_by=clinician), clinician=clinician)
    with pytest.raises(ValidationError, match="own signed sessions"):
        services.delayed_reaction_report(
            patient=patient, session=theirs, description="Sore", severity="mild", via="staff", by=clinician
        )
    assert not DelayedReaction.objects.exists()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"kind": "rash"}, "kind"),
        ({"severity": "awful"}, "severity"),
        ({"via": "carrier-pigeon"}, "reported_via"),
        ({"description": "   "}, "description"),
        ({"description": "x" * (MAX_DESCRIPTION_LENGTH + 1)}, "description"),
        ({"via": "portal", "by": None}, "__all__"),  # a portal report names the patient's sign-in
    ],
)
def test_the_service_refuses_values_out_of_bounds(patient, clinician, signed, values, field):
    arguments = {"patient": patient, "description": "Sore", "severity": "mild", "via": "staff", "by": clinician,
                 **values}  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        services.delayed_reaction_report(**arguments)
    assert field in refused.value.message_dict
    assert not DelayedReaction.objects.exists()


# --- Kept as reported ----------------------------------------------------------------------------------------


@pytest.fixture
def reaction(patient, patient_user, signed) -> DelayedReaction:
    return services.delayed_reaction_report(
        patient=patient, description="Itchy rash on the thigh.", severity="mild", kind="allergic", via="portal",
        by=patient_user,
    )  # fmt: skip


def test_the_patients_words_cannot_be_changed_or_removed(reaction):
    reaction.description = "Nothing much."
    with pytest.raises(IntegrityError, match="kept as the patient reported it"), transaction.atomic():
        reaction.save()
    with pytest.raises(IntegrityError, match="kept as the patient reported it"), transaction.atomic():
        DelayedReaction.objects.filter(pk=reaction.pk).update(severity="severe")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM safety_delayedreaction WHERE id = %s", [reaction.pk])
    reaction.refresh_from_db()
    assert (reaction.description, reaction.severity) == ("Itchy rash on the thigh.", "mild")


def test_its_follow_up_is_what_staff_change(reaction, clinician):
    services.follow_up_update(
        event=reaction, status="referred", follow_up_on=timezone.localdate(), resolution_note="To GP", by=clinician
    )
    reaction.refresh_from_db()
    assert reaction.follow_up.status == "referred" and reaction.description == "Itchy rash on the thigh."


def test_the_database_refuses_a_reaction_to_a_draft_or_to_someone_elses_session(patient, other_patient, clinician):
    draft = SessionFactory(course=CourseFactory(patient=patient, created_by=clinician), clinician=clinician, sites=1)
    with pytest.raises(IntegrityError, match="signed session"), transaction.atomic():
        DelayedReaction.objects.create(
            patient=patient, session=draft, severity="mild", description="x", reported_via="between_visit_form"
        )
    theirs = signed_session(course=CourseFactory(patient=other_patient, created_by=clinician), clinician=clinician)
    with pytest.raises(IntegrityError, match="same patient"), transaction.atomic():
        DelayedReaction.objects.create(
            patient=patient, session=theirs, severity="mild", description="x", reported_via="between_visit_form"
        )
    ours = signed_session(course=CourseFactory(patient=patient, created_by=clinician), clinician=clinician)
    with pytest.raises(IntegrityError, match="before the session"), transaction.atomic():
        DelayedReaction.objects.create(
            patient=patient, session=ours, severity="mild", description="x", reported_via="between_visit_form",
            reported_at=ours.performed_at - timedelta(hours=1),
        )  # fmt: skip


# --- The portal page -------------------------------------------------------------------------------------------


def test_the_portal_home_links_to_the_report_page(patient_client, patient):
    assert REPORT in patient_client.get(reverse("portal:home")).content.decode()
    assert REPORT in patient_client.get(reverse("home")).content.decode()


def test_a_patient_reports_a_reaction_and_the_clinician_sees_it_open(
    patient_client, patient, patient_user, signed, clinician_client
):
    page = patient_client.get(REPORT)
    assert page.status_code == 200
    assert f'<option value="{signed.pk}" selected>' in page.content.decode()  # the latest visit by default
    response = patient_client.post(REPORT, _report(session=str(signed.pk)))
    assert (response.status_code, response.url) == (302, reverse("portal:home"))
    reaction = DelayedReaction.objects.get()
    assert (reaction.patient, reaction.session, reaction.reported_via, reaction.reported_by) == (
        patient, signed, "portal", patient_user,
    )  # fmt: skip
    assert (reaction.kind, reaction.severity) == ("infection", "moderate")

    # The clinician: a count on the start page, the event among the open ones, and on the session page.
    home = clinician_client.get(reverse("home")).content.decode()
    assert 'id="open-adverse-events-count">2</span>' in home  # the note's bruise and this reaction
    log = clinician_client.get(reverse("safety:log"))
    [opened] = [row for row in log.context["open_events"] if row.delayed]
    assert (opened.pk, opened.status, opened.patient) == (reaction.pk, "Open", patient)
    session_page = clinician_client.get(reverse("treatments:session", args=[signed.pk])).content.decode()
    row = session_page.split(f'id="delayed-reaction-{reaction.pk}"')[1].split("</li>")[0]
    assert "Red and hot round the injection site." in row and ">Open</span>" in row
    assert f'action="{reverse("safety:reaction_follow_up", args=[reaction.pk])}"' in row
    # And the patient sees what they sent.
    assert "Red and hot round the injection site." in patient_client.get(REPORT).content.decode()


def test_a_clinician_follows_the_reaction_up(clinician_client, reaction):
    url = reverse("safety:reaction_follow_up", args=[reaction.pk])
    page = clinician_client.get(url)
    assert page.status_code == 200 and "Itchy rash on the thigh." in page.content.decode()
    before = (timezone.localdate(reaction.reported_at) - timedelta(days=2)).isoformat()
    refused = clinician_client.post(url, {"status": "open", "follow_up_on": before})
    assert refused.status_code == 400 and "That is before the reaction was reported" in refused.content.decode()
    data = {"status": "resolved", "follow_up_on": timezone.localdate().isoformat(), "resolution_note": "Antihistamine"}
    assert clinician_client.post(url, data).status_code == 302
    assert AdverseEventFollowUp.objects.get(delayed_reaction=reaction).status == "resolved"
    assert 'id="open-adverse-events-count">1</span>' in clinician_client.get(reverse("home")).content.decode()


def test_a_patient_cannot_report_for_another_patient(patient_client, other_patient, clinician, signed):
    theirs = signed_session(course=CourseFactory(patient=other_patient, created_by=clinician), clinician=clinician)
    response = patient_client.post(REPORT, _report(session=str(theirs.pk)))
    assert response.status_code == 400
    assert "Choose one of your visits from the list." in response.content.decode()
    assert f'value="{theirs.pk}"' not in response.content.decode()
    assert not DelayedReaction.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"description": "x" * 1001}, "Please keep it to 1,000 characters (it has 1001)."),
        ({"description": "  "}, "Please tell us what happened."),
        ({"kind": "rash"}, "Choose one from the list."),
        ({"severity": ""}, "Choose how bad it is."),
        ({"session": "not-a-number"}, "Choose one of your visits from the list."),
    ],
)
def test_bad_input_re_renders_the_form_with_a_clear_message(patient_client, signed, overrides, message):
    response = patient_client.post(REPORT, _report(**{"session": str(signed.pk), **overrides}))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not DelayedReaction.objects.exists()


def test_without_a_signed_session_the_page_explains_and_a_post_is_refused(patient_client, patient, clinician):
    SessionFactory(course=CourseFactory(patient=patient, created_by=clinician), clinician=clinician)  # a draft
    page = patient_client.get(REPORT)
    assert page.status_code == 200
    assert 'id="no-visits"' in page.content.decode() and 'id="reaction-form"' not in page.content.decode()
    response = patient_client.post(REPORT, _report())
    assert response.status_code == 409
    assert "no signed session note to attach this reaction to" in response.content.decode()
    assert not DelayedReaction.objects.exists()


@pytest.mark.parametrize("persona", ["clinician_client", "front_desk_client", "manager_client", "outsider_client"])
def test_only_patients_open_the_report_page(request, persona, signed):
    client = request.getfixturevalue(persona)
    assert client.get(REPORT).status_code == 403
    assert client.post(REPORT, _report(session=str(signed.pk))).status_code == 403
    assert not DelayedReaction.objects.exists()


@pytest.mark.parametrize("persona", ["front_desk_client", "manager_client", "patient_client"])
def test_only_clinicians_follow_a_reaction_up(request, persona, reaction):
    url = reverse("safety:reaction_follow_up", args=[reaction.pk])
    client = request.getfixturevalue(persona)
    assert client.get(url).status_code == 403
    assert client.post(url, {"status": "open"}).status_code == 403
