"""Who may open which page: every URL pattern of the project, for every role.

MATRIX has one row per named route. A new URL pattern without a row makes
test_every_url_pattern_has_a_row_in_the_matrix fail, so nobody can add a page
without deciding who may see it.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import URLResolver, get_resolver, path, resolve, reverse
from django.urls.resolvers import RegexPattern

from patients.models import Patient
from tests.documents.helpers import pending_document_for, ready_document_for
from tests.factories import AssessmentFactory, CourseFactory, SessionFactory, UserFactory, signed_session
from tests.interop.bulk_helpers import ready_bulk_export
from tests.outcomes.helpers import closed_course, end_request
from tests.outcomes.registry_helpers import ready_registry_export
from tests.portal.helpers import in_days, make_appointment, make_document
from tests.portal.record_copy_helpers import ready_copy
from tests.scheduling.factories import AppointmentFactory

ROLES = ("anonymous", "clinician", "front_desk", "manager", "patient", "outsider")

# What a role must get back.
OK = "200"
LOGIN = "redirect to sign-in"  # 302 to the sign-in page, remembering the page asked for
DENIED = "403 or 404"
TO_HOME = "redirect home"  # a signed-in user opening the sign-in page
SIGNED_OUT = "signed out, redirect to sign-in"
ACTED = "handled: 200, 204, 409 or a redirect that is not to sign-in"  # a POST-only action the role may take

# The admin's own URL patterns are one entry: the admin site guards them all.
ADMIN = "admin"


@dataclass(frozen=True)
class Row:
    url: Callable[[Patient], str]
    expect: dict[str, str]
    method: str = "get"
    login_url: str = "login"


def _for(anonymous: str, **roles: str) -> dict[str, str]:
    expect = {"anonymous": anonymous, **roles}
    assert set(expect) == set(ROLES), f"every role needs an expectation: {sorted(set(ROLES) ^ set(expect))}"
    return expect


def _named(name: str, **kwargs) -> Callable[[Patient], str]:
    return lambda patient: reverse(name, kwargs=kwargs)


def _about_patient(name: str) -> Callable[[Patient], str]:
    # The patient persona's own record: a patient-role user is refused even there.
    return lambda patient: reverse(name, kwargs={"pk": patient.pk})


def _about_course(name: str) -> Callable[[Patient], str]:
    return lambda patient: reverse(name, kwargs={"pk": CourseFactory(patient=patient).pk})


def _about_session(name: str) -> Callable[[Patient], str]:
    # A draft with one injection site: it can be opened, edited and signed.
    return lambda patient: reverse(
        name, kwargs={"pk": SessionFactory(course=CourseFactory(patient=patient), sites=1).pk}
    )


def _about_appointment(name: str) -> Callable[[Patient], str]:
    return lambda patient: reverse(name, kwargs={"pk": AppointmentFactory(patient=patient).pk})


def _own_appointment(name: str) -> Callable[[Patient], str]:
    # Tomorrow: inside the check-in window and the online-cancellation notice period.
    return lambda patient: reverse(name, kwargs={"pk": make_appointment(patient, in_days(1)).pk})


def _about_account(name: str) -> Callable[[Patient], str]:
    return lambda patient: reverse(name, kwargs={"pk": patient.user_id})


def _with_course(name: str) -> Callable[[Patient], str]:
    return lambda patient: f"{reverse(name)}?course={CourseFactory(patient=patient).pk}"


def _registry_export(name: str) -> Callable[[Patient], str]:
    return lambda patient: reverse(name, kwargs={"pk": ready_registry_export().pk})


def _bulk_export(name: str) -> Callable[[Patient], str]:
    return lambda patient: reverse(name, kwargs={"pk": ready_bulk_export().pk})


def _bulk_export_file(patient: Patient) -> str:
    # The patient persona is on file, so a ready export has a Patient.ndjson.
    return reverse("interop:bulk_export_file", kwargs={"pk": ready_bulk_export().pk, "resource_type": "Patient"})


def _csv_import(name: str) -> Callable[[Patient], str]:
    def url(patient: Patient) -> str:
        from imports.services import import_upload
        from tests.factories import UserFactory

        by = UserFactory()
        csv_import = import_upload(by=by, kind="patients", source_system="", file_name="p.csv",
                                   content=b"First Name,Last Name\nAnn,Lee\n", encoding="utf-8")  # fmt: skip
        return reverse(name, kwargs={"pk": csv_import.pk})

    return url


def _about_adverse_event(name: str) -> Callable[[Patient], str]:
    # An event in a signed note: a draft's events are followed up once it is signed.
    def url(patient: Patient) -> str:
        from treatments.models import AdverseEvent
        from treatments.services import session_sign

        draft = SessionFactory(course=CourseFactory(patient=patient), sites=1)
        event = AdverseEvent.objects.create(session=draft, kind="bruising", severity="mild")
        session_sign(session=draft, by=draft.clinician)
        return reverse(name, kwargs={"pk": event.pk})

    return url


def _about_delayed_reaction(name: str) -> Callable[[Patient], str]:
    def url(patient: Patient) -> str:
        from safety.services import delayed_reaction_report

        signed_session(course=CourseFactory(patient=patient))
        reaction = delayed_reaction_report(
            patient=patient, description="Sore", severity="mild", via="between_visit_form"
        )
        return reverse(name, kwargs={"pk": reaction.pk})

    return url


def _about_data_request(name: str) -> Callable[[Patient], str]:
    def url(patient: Patient) -> str:
        from patients.models import DataRequest

        recorder = UserFactory(username="data-request-recorder")
        # One open request of a kind per patient: a test asking for the URL again gets the same one.
        data_request, _ = DataRequest.objects.get_or_create(
            patient=patient, kind="erasure", status="open",
            defaults={"received_on": date.today(), "received_via": "letter", "recorded_by": recorder},
        )  # fmt: skip
        return reverse(name, kwargs={"pk": patient.pk, "request_pk": data_request.pk})

    return url


SIGNED_IN_ANY_ROLE = _for(LOGIN, clinician=OK, front_desk=OK, manager=OK, patient=OK, outsider=OK)
SIGNED_IN_ACTION = _for(LOGIN, clinician=ACTED, front_desk=ACTED, manager=ACTED, patient=ACTED, outsider=ACTED)
PUBLIC = _for(OK, clinician=OK, front_desk=OK, manager=OK, patient=OK, outsider=OK)
VIEW_PATIENTS = _for(LOGIN, clinician=OK, front_desk=OK, manager=OK, patient=DENIED, outsider=DENIED)
EDIT_PATIENTS = _for(LOGIN, clinician=OK, front_desk=OK, manager=DENIED, patient=DENIED, outsider=DENIED)
# The front desk sees that courses exist (dates, status), never clinical content.
VIEW_COURSES = _for(LOGIN, clinician=OK, front_desk=OK, manager=DENIED, patient=DENIED, outsider=DENIED)
STAFF = _for(LOGIN, clinician=OK, front_desk=OK, manager=OK, patient=DENIED, outsider=DENIED)
STAFF_ACTION = _for(LOGIN, clinician=ACTED, front_desk=ACTED, manager=ACTED, patient=DENIED, outsider=DENIED)
PORTAL = _for(LOGIN, clinician=DENIED, front_desk=DENIED, manager=DENIED, patient=OK, outsider=DENIED)
CLINICAL = _for(LOGIN, clinician=OK, front_desk=DENIED, manager=DENIED, patient=DENIED, outsider=DENIED)
MANAGE_ACCOUNTS = _for(LOGIN, clinician=DENIED, front_desk=DENIED, manager=OK, patient=DENIED, outsider=DENIED)
MANAGE_ACCOUNTS_ACTION = _for(
    LOGIN, clinician=DENIED, front_desk=DENIED, manager=ACTED, patient=DENIED, outsider=DENIED
)
CLINICAL_ACTION = _for(LOGIN, clinician=ACTED, front_desk=DENIED, manager=DENIED, patient=DENIED, outsider=DENIED)
MANAGE_DATA_REQUESTS = _for(LOGIN, clinician=DENIED, front_desk=DENIED, manager=OK, patient=DENIED, outsider=DENIED)
AUDIT = _for(LOGIN, clinician=DENIED, front_desk=DENIED, manager=OK, patient=DENIED, outsider=DENIED)
# The adverse-event log and its rates: clinicians and managers; following an event up: clinicians.
SAFETY_LOG = _for(LOGIN, clinician=OK, front_desk=DENIED, manager=OK, patient=DENIED, outsider=DENIED)
# Aggregate outcomes, no patient named: clinicians and managers (outcomes.view_outcomes_report).
OUTCOMES_REPORT = _for(LOGIN, clinician=OK, front_desk=DENIED, manager=OK, patient=DENIED, outsider=DENIED)

MATRIX: dict[str, Row] = {
    "home": Row(_named("home"), SIGNED_IN_ANY_ROLE),
    "login": Row(
        _named("login"),
        _for(OK, clinician=TO_HOME, front_desk=TO_HOME, manager=TO_HOME, patient=TO_HOME, outsider=TO_HOME),
    ),
    "logout": Row(
        _named("logout"),
        _for(
            SIGNED_OUT,
            clinician=SIGNED_OUT,
            front_desk=SIGNED_OUT,
            manager=SIGNED_OUT,
            patient=SIGNED_OUT,
            outsider=SIGNED_OUT,
        ),
        method="post",
    ),
    # The personas' sessions have passed the second factor already, so enrol and verify send them on (and a
    # user who has a second factor cannot enrol another); the patient persona has none, so enrol shows its form.
    "mfa_enrol": Row(
        _named("mfa_enrol"),
        _for(LOGIN, clinician=ACTED, front_desk=ACTED, manager=ACTED, patient=OK, outsider=ACTED),
    ),
    "mfa_verify": Row(_named("mfa_verify"), SIGNED_IN_ACTION),
    # A patient without a second factor has no backup codes to replace: sent to the security page.
    "mfa_backup_codes": Row(_named("mfa_backup_codes"), SIGNED_IN_ACTION, method="post"),
    # Only a patient may turn the second factor off (the persona has none, so is told it is off already).
    "mfa_turn_off": Row(
        _named("mfa_turn_off"),
        _for(LOGIN, clinician=DENIED, front_desk=DENIED, manager=DENIED, patient=ACTED, outsider=DENIED),
        method="post",
    ),
    "account_security": Row(_named("account_security"), SIGNED_IN_ANY_ROLE),
    # The idle warning's "Stay signed in": 204 for any signed-in user.
    "session_keepalive": Row(_named("session_keepalive"), SIGNED_IN_ACTION, method="post"),
    # The managers' account-security pages, about the patient persona's account.
    "security_users": Row(_named("security_users"), MANAGE_ACCOUNTS),
    "security_user": Row(_about_account("security_user"), MANAGE_ACCOUNTS),
    "security_unlock": Row(_about_account("security_unlock"), MANAGE_ACCOUNTS_ACTION, method="post"),
    "security_unlock_address": Row(_named("security_unlock_address"), MANAGE_ACCOUNTS_ACTION, method="post"),
    "security_revoke_sessions": Row(_about_account("security_revoke_sessions"), MANAGE_ACCOUNTS_ACTION, method="post"),
    "security_reset_mfa": Row(_about_account("security_reset_mfa"), MANAGE_ACCOUNTS_ACTION, method="post"),
    "password_change": Row(_named("password_change"), SIGNED_IN_ANY_ROLE),
    "password_change_done": Row(_named("password_change_done"), SIGNED_IN_ANY_ROLE),
    "password_reset": Row(_named("password_reset"), PUBLIC),
    "password_reset_done": Row(_named("password_reset_done"), PUBLIC),
    # A link that is not valid shows the "expired" page to anyone.
    "password_reset_confirm": Row(_named("password_reset_confirm", uidb64="MQ", token="not-a-token"), PUBLIC),
    "password_reset_complete": Row(_named("password_reset_complete"), PUBLIC),
    "patients:list": Row(_named("patients:list"), VIEW_PATIENTS),
    "patients:register": Row(_named("patients:register"), EDIT_PATIENTS),
    "patients:detail": Row(_about_patient("patients:detail"), VIEW_PATIENTS),
    "patients:edit": Row(_about_patient("patients:edit"), EDIT_PATIENTS),
    "patients:intake": Row(_about_patient("patients:intake"), EDIT_PATIENTS),
    "patients:consent": Row(_about_patient("patients:consent"), EDIT_PATIENTS),
    # Withdrawing at the desk: whoever may record consent; with no consent to withdraw it says so and changes nothing.
    "patients:consent_withdraw": Row(
        _about_patient("patients:consent_withdraw"),
        _for(LOGIN, clinician=ACTED, front_desk=ACTED, manager=DENIED, patient=DENIED, outsider=DENIED),
        method="post",
    ),
    # Change history (audit.view_history): clinicians and managers; never the front desk or the patient.
    "patients:history": Row(
        _about_patient("patients:history"),
        _for(LOGIN, clinician=OK, front_desk=DENIED, manager=OK, patient=DENIED, outsider=DENIED),
    ),
    # Requests about data (patients.manage_data_requests): managers only.
    "patients:data_requests_open": Row(_named("patients:data_requests_open"), MANAGE_DATA_REQUESTS),
    "patients:data_requests": Row(_about_patient("patients:data_requests"), MANAGE_DATA_REQUESTS),
    "patients:data_request_new": Row(_about_patient("patients:data_request_new"), MANAGE_DATA_REQUESTS),
    "patients:data_request_decide": Row(_about_data_request("patients:data_request_decide"), MANAGE_DATA_REQUESTS),
    "assessments:new": Row(lambda patient: reverse("assessments:new", kwargs={"patient_pk": patient.pk}), CLINICAL),
    "assessments:detail": Row(
        lambda patient: reverse("assessments:detail", kwargs={"pk": AssessmentFactory(patient=patient).pk}), CLINICAL
    ),
    "treatments:course_new": Row(
        lambda patient: reverse("treatments:course_new", kwargs={"patient_pk": patient.pk}), CLINICAL
    ),
    "treatments:course": Row(_about_course("treatments:course"), VIEW_COURSES),
    "treatments:course_close": Row(_about_course("treatments:course_close"), CLINICAL),
    "treatments:course_reopen": Row(_about_course("treatments:course_reopen"), CLINICAL_ACTION, method="post"),
    "treatments:session_new": Row(
        lambda patient: reverse("treatments:session_new", kwargs={"course_pk": CourseFactory(patient=patient).pk}),
        CLINICAL,
    ),
    "treatments:session": Row(_about_session("treatments:session"), CLINICAL),
    "treatments:session_edit": Row(_about_session("treatments:session_edit"), CLINICAL),
    "treatments:session_sign": Row(_about_session("treatments:session_sign"), CLINICAL_ACTION, method="post"),
    "treatments:session_addendum": Row(_about_session("treatments:session_addendum"), CLINICAL_ACTION, method="post"),
    "treatments:site_row": Row(_named("treatments:site_row"), CLINICAL),
    # Lot recall (treatments.recall_lot): clinicians and managers; the CSV asked for with a lot, as its page links it.
    "treatments:lot_recall": Row(
        _named("treatments:lot_recall"),
        _for(LOGIN, clinician=OK, front_desk=DENIED, manager=OK, patient=DENIED, outsider=DENIED),
    ),
    "treatments:lot_recall_csv": Row(
        lambda patient: f"{reverse('treatments:lot_recall_csv')}?lot=DX-2291",
        _for(LOGIN, clinician=OK, front_desk=DENIED, manager=OK, patient=DENIED, outsider=DENIED),
    ),
    "scheduling:day": Row(_named("scheduling:day"), STAFF),
    "scheduling:week": Row(_named("scheduling:week"), STAFF),
    "scheduling:day_sheet": Row(_named("scheduling:day_sheet"), STAFF),
    "scheduling:book": Row(_named("scheduling:book"), STAFF),
    "scheduling:slots": Row(_named("scheduling:slots"), STAFF),
    "scheduling:appointment": Row(_about_appointment("scheduling:appointment"), STAFF),
    "scheduling:move": Row(_about_appointment("scheduling:move"), STAFF),
    "scheduling:cancel": Row(_about_appointment("scheduling:cancel"), STAFF),
    "scheduling:menu": Row(_about_appointment("scheduling:menu"), STAFF),
    "scheduling:status": Row(_about_appointment("scheduling:status"), STAFF_ACTION, method="post"),
    "scheduling:book_next": Row(_with_course("scheduling:book_next"), VIEW_COURSES),
    "scheduling:book_series": Row(_with_course("scheduling:book_series"), VIEW_COURSES),
    "scheduling:recall": Row(_named("scheduling:recall"), VIEW_COURSES),
    "documents:download": Row(
        lambda patient: reverse("documents:download", args=[ready_document_for(patient).pk]), CLINICAL
    ),
    "documents:retry": Row(
        lambda patient: reverse("documents:retry", args=[pending_document_for(patient).pk]),
        CLINICAL_ACTION,
        method="post",
    ),
    "documents:session_status": Row(_about_session("documents:session_status"), CLINICAL),
    "documents:patient_status": Row(_about_patient("documents:patient_status"), CLINICAL),
    "portal:home": Row(_named("portal:home"), PORTAL),
    "portal:documents": Row(_named("portal:documents"), PORTAL),
    "portal:contact": Row(_named("portal:contact"), PORTAL),
    "portal:consent": Row(_named("portal:consent"), PORTAL),
    # Without a consent to withdraw, the confirmation sends the patient back to the consent page.
    "portal:consent_withdraw_confirm": Row(
        _named("portal:consent_withdraw_confirm"),
        _for(LOGIN, clinician=DENIED, front_desk=DENIED, manager=DENIED, patient=ACTED, outsider=DENIED),
    ),
    # The patient's own withdrawal: patients only.
    "portal:consent_withdraw": Row(
        _named("portal:consent_withdraw"),
        _for(LOGIN, clinician=DENIED, front_desk=DENIED, manager=DENIED, patient=ACTED, outsider=DENIED),
        method="post",
    ),
    # The patient's own copy of their record: the page, and a ready copy's download.
    "portal:record_copy": Row(_named("portal:record_copy"), PORTAL),
    "portal:record_copy_download": Row(
        lambda patient: reverse("portal:record_copy_download", kwargs={"pk": ready_copy(patient).pk}), PORTAL
    ),
    "portal:appointment_ics": Row(_own_appointment("portal:appointment_ics"), PORTAL),
    "portal:appointment_cancel": Row(_own_appointment("portal:appointment_cancel"), PORTAL),
    "portal:check_in": Row(_own_appointment("portal:check_in"), PORTAL),
    "portal:document_download": Row(
        lambda patient: reverse("portal:document_download", kwargs={"pk": make_document(patient).pk}), PORTAL
    ),
    "portal:invite_new": Row(
        lambda patient: reverse("portal:invite_new", kwargs={"patient_pk": patient.pk}),
        _for(LOGIN, clinician=ACTED, front_desk=ACTED, manager=DENIED, patient=DENIED, outsider=DENIED),
        method="post",
    ),
    # An unknown invitation token is "not found" for everyone, signed in or not.
    "portal:invite_accept": Row(
        _named("portal:invite_accept", token="not-a-token"),
        _for(DENIED, clinician=DENIED, front_desk=DENIED, manager=DENIED, patient=DENIED, outsider=DENIED),
    ),
    # Between-visit questions: the patient's own in the portal; an unknown link is "not found" for everyone.
    "portal:measures": Row(
        lambda patient: reverse("portal:measures", kwargs={"pk": end_request(closed_course(patient)).pk}), PORTAL
    ),
    "outcomes:answer_by_link": Row(
        _named("outcomes:answer_by_link", token="not-a-token"),
        _for(DENIED, clinician=DENIED, front_desk=DENIED, manager=DENIED, patient=DENIED, outsider=DENIED),
    ),
    "safety:log": Row(_named("safety:log"), SAFETY_LOG),
    "safety:log_csv": Row(_named("safety:log_csv"), SAFETY_LOG),
    "safety:event_follow_up": Row(_about_adverse_event("safety:event_follow_up"), CLINICAL),
    "safety:reaction_follow_up": Row(_about_delayed_reaction("safety:reaction_follow_up"), CLINICAL),
    "safety:report_reaction": Row(_named("safety:report_reaction"), PORTAL),
    # The audit trail and a patient's accounting of disclosures: managers only (audit.view_auditevent,
    # and audit.export_auditevent for the CSVs). The chain check runs on POST; its GET shows the button.
    "audit:events": Row(_named("audit:events"), AUDIT),
    "audit:export": Row(_named("audit:export"), AUDIT),
    "audit:verify": Row(_named("audit:verify"), AUDIT),
    "audit:disclosures": Row(_about_patient("audit:disclosures"), AUDIT),
    "audit:disclosures_export": Row(_about_patient("audit:disclosures_export"), AUDIT),
    # The de-identified registry export: managers only (outcomes.view_registryexport; add_ to ask for one).
    "registry:exports": Row(_named("registry:exports"), AUDIT),
    "registry:progress": Row(_registry_export("registry:progress"), AUDIT),
    # A ready export is sent to a manager; anyone else gets the 404 a missing id gets.
    "registry:download": Row(_registry_export("registry:download"), AUDIT),
    # CSV imports from another system: those who manage the clinic (imports.view_csvimport, add_ to import).
    # The report CSV of an import not yet checked is a 409 saying so; confirming one not checked, a 409 too.
    "imports:list": Row(_named("imports:list"), AUDIT),
    "imports:detail": Row(_csv_import("imports:detail"), AUDIT),
    "imports:mapping": Row(_csv_import("imports:mapping"), AUDIT),
    "imports:progress": Row(_csv_import("imports:progress"), AUDIT),
    "imports:confirm": Row(_csv_import("imports:confirm"), MANAGE_ACCOUNTS_ACTION, method="post"),
    "imports:report_csv": Row(_csv_import("imports:report_csv"), MANAGE_ACCOUNTS_ACTION),
    "outcomes:report": Row(_named("outcomes:report"), OUTCOMES_REPORT),
    # The whole record as FHIR: clinical content, so clinicians only (never the front desk or managers).
    "interop:patient_everything": Row(_about_patient("interop:patient_everything"), CLINICAL),
    # The clinic-wide FHIR bulk export: managers only (interop.view_bulkexport; add_ to ask for one). A ready
    # export's manifest and files are sent to a manager; anyone else is refused.
    "interop:bulk_exports": Row(_named("interop:bulk_exports"), AUDIT),
    "interop:bulk_export": Row(_bulk_export("interop:bulk_export"), AUDIT),
    "interop:bulk_export_progress": Row(_bulk_export("interop:bulk_export_progress"), AUDIT),
    "interop:bulk_export_manifest": Row(_bulk_export("interop:bulk_export_manifest"), AUDIT),
    "interop:bulk_export_file": Row(_bulk_export_file, AUDIT),
    "outcomes:report_export": Row(_named("outcomes:report_export"), OUTCOMES_REPORT),
    # Django's admin answers a signed-in user without is_staff with a redirect to its own sign-in form,
    # inviting them to sign in as someone else; the portal's rule is 403 for a signed-in user in the wrong role.
    ADMIN: Row(
        _named("admin:index"),
        _for(LOGIN, clinician=DENIED, front_desk=DENIED, manager=OK, patient=DENIED, outsider=DENIED),
        login_url="admin:login",
    ),
}


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    """Documents made for the download rows go to a temporary folder, not var/documents."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


def url_routes(resolver: URLResolver, namespace: str = "") -> Iterator[str]:
    """Every route of the URLconf by its full name; an unnamed pattern appears by its pattern."""
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == ADMIN:
                yield ADMIN
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_routes(entry, inner)
        elif entry.name:
            yield f"{namespace}{entry.name}"
        else:
            yield f"<unnamed pattern {namespace}{entry.pattern}>"


def test_every_url_pattern_has_a_row_in_the_matrix():
    routes = list(url_routes(get_resolver()))
    assert len(routes) == len(set(routes)), "two URL patterns share a name"
    assert set(routes) - set(MATRIX) == set(), "URL patterns without a row in MATRIX"
    assert set(MATRIX) - set(routes) == set(), "rows in MATRIX for URL patterns that no longer exist"


def test_a_new_url_pattern_without_a_row_is_noticed():
    def view(request):
        return HttpResponse()

    project = get_resolver().url_patterns
    extended = URLResolver(
        RegexPattern(r"^/"),
        [*project, path("reports/", view, name="reports"), path("unnamed/", view)],
    )
    noticed = set(url_routes(extended)) - set(url_routes(get_resolver())) - set(MATRIX)
    assert noticed == {"reports", "<unnamed pattern unnamed/>"}


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_matrix_row_url_belongs_to_its_route(route, patient):
    match = resolve(urlsplit(MATRIX[route].url(patient)).path)
    if route == ADMIN:
        assert match.namespace == ADMIN
    else:
        assert match.view_name == route


def _client(request, role: str) -> Client:
    if role == "anonymous":
        return Client()
    return request.getfixturevalue(f"{role}_client")


def _check(response, expectation: str, *, asked_for: str, login_url: str, client: Client) -> None:
    status = response.status_code
    if expectation == OK:
        assert status == 200
    elif expectation == DENIED:
        assert status in (403, 404)
    elif expectation == LOGIN:
        assert status == 302
        location = urlsplit(response["Location"])
        assert location.path == reverse(login_url)
        assert parse_qs(location.query).get("next") == [asked_for]
    elif expectation == TO_HOME:
        assert status == 302
        assert response["Location"] == reverse("home")
    elif expectation == ACTED:
        assert status in (200, 204, 302, 409)
        if status == 302:
            assert urlsplit(response["Location"]).path not in (reverse("login"), reverse("admin:login"))
    elif expectation == SIGNED_OUT:
        assert status == 302
        assert response["Location"] == reverse("login")
        assert "_auth_user_id" not in client.session
    else:  # pragma: no cover - a typo in MATRIX
        pytest.fail(f"unknown expectation {expectation!r}")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", sorted(MATRIX))
def test_role_gets_the_answer_the_matrix_gives(request, route, role, patient):
    row = MATRIX[route]
    client = _client(request, role)
    url = row.url(patient)
    response = getattr(client, row.method)(url)
    _check(response, row.expect[role], asked_for=url, login_url=row.login_url, client=client)


@pytest.mark.parametrize("route", sorted(route for route, row in MATRIX.items() if row.method == "post"))
def test_actions_that_change_something_refuse_a_get(clinician_client, route, patient):
    assert clinician_client.get(MATRIX[route].url(patient)).status_code == 405
