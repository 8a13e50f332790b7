"""Input no person types, sent to every page: the answer is a 4xx with a message, never a 500.

Ids beyond PostgreSQL's bigint in any URL pattern, hostile values in every query parameter the views read,
control characters in every text field of every form, and the error pages themselves drawn before any
middleware has run (a foreign Host header is refused before the user is known).
"""

import importlib
import inspect
import re
from urllib.parse import urlencode, urlsplit

import pytest
from django import forms
from django.apps import apps
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.core.validators import EmailValidator, RegexValidator
from django.http import Http404
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.views import defaults
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pit_portal.ids import BIGINT_MAX, IdConverter
from pit_portal.views import csrf_failure
from tests.test_url_matrix import MATRIX, OK, ROLES

# Query parameters the views read (grep request.GET): each gets every hostile value in turn.
QUERY_PARAMETERS = ("patient", "course", "clinician", "date", "starts_at", "appointment_type", "page", "q", "next")
HOSTILE_VALUES = (str(BIGINT_MAX + 1), "9" * 40, "-1", "0", "1e5", "\u0661\u0662", "NaN", "x" * 300, "' OR 1=1 --")
CONTROL = ("\x00", "a\x01b", "\x1b[31m", "line\x0bbreak", "\x7f", "\x85")


def error_request():
    """A request as the error handlers may get it: no middleware has run, so no user, session or messages."""
    return RequestFactory().get("/somewhere/")


@pytest.mark.parametrize(
    ("handler", "status"),
    [
        (lambda request: defaults.bad_request(request, BadRequest()), 400),
        (lambda request: defaults.permission_denied(request, PermissionDenied()), 403),
        (lambda request: defaults.page_not_found(request, Http404()), 404),
        (lambda request: defaults.server_error(request), 500),
        (lambda request: csrf_failure(request, reason="CSRF cookie not set."), 403),
    ],
)
def test_error_pages_render_before_any_middleware_has_run(db, handler, status):
    response = handler(error_request())
    assert response.status_code == status
    assert b"<h1" in response.content


def test_a_foreign_host_header_is_a_400_page(db):
    response = Client(HTTP_HOST="portal.attacker.example").get("/patients/")
    assert response.status_code == 400
    assert b"could not be understood" in response.content


def url_patterns(resolver: URLResolver):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace != "admin":
                yield from url_patterns(entry)
        elif isinstance(entry, URLPattern):
            yield entry


def test_every_id_in_a_url_pattern_is_read_by_the_id_converter():
    numeric = [
        str(pattern.pattern)
        for pattern in url_patterns(get_resolver())
        for converter in pattern.pattern.converters.values()
        if not isinstance(converter, IdConverter) and converter.regex in ("[0-9]+", "-?[0-9]+")
    ]
    assert numeric == [], "use <id:...> for record ids, so a number beyond bigint is a 404"


def client_allowed(request, row) -> Client:
    """A client for a role the page answers 200, signed in where any signed-in role may open it."""
    role = next(role for role in (*ROLES[1:], ROLES[0]) if row.expect[role] == OK)
    return Client() if role == "anonymous" else request.getfixturevalue(f"{role}_client")


def openable_routes() -> list[str]:
    found = []
    for route, row in MATRIX.items():
        if route == "admin" or row.method != "get" or not any(row.expect[role] == OK for role in ROLES):
            continue
        found.append(route)
    return sorted(found)


def with_ids_replaced(url: str, hostile: str) -> str | None:
    """`url` with every id its pattern captured replaced by `hostile`; None when the pattern captures none."""
    path = urlsplit(url).path
    ids = {str(value) for value in resolve(path).kwargs.values() if isinstance(value, int)}
    if not ids:
        return None
    return "/".join(hostile if part in ids else part for part in path.split("/"))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=st.one_of(st.integers(BIGINT_MAX + 1, 10**40), st.just(0)))
@pytest.mark.parametrize("route", openable_routes())
def test_an_id_beyond_any_row_is_a_404(request, route, patient, number):
    row = MATRIX[route]
    url = with_ids_replaced(row.url(patient), str(number))
    if url is None:
        return  # this route takes no id; its query parameters are the next test's
    client = client_allowed(request, row)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("route", openable_routes())
def test_hostile_query_parameters_never_cause_a_server_error(request, route, patient):
    row = MATRIX[route]
    client = client_allowed(request, row)
    url = urlsplit(row.url(patient)).path
    for value in HOSTILE_VALUES:
        response = client.get(f"{url}?{urlencode(dict.fromkeys(QUERY_PARAMETERS, value))}")
        assert response.status_code < 500, (url, value)


@pytest.mark.parametrize("route", openable_routes())
def test_control_characters_in_a_query_string_are_a_400_with_a_message(request, route, patient):
    row = MATRIX[route]
    client = client_allowed(request, row)
    url = urlsplit(row.url(patient)).path
    for value in CONTROL:
        response = client.get(f"{url}?{urlencode({'q': value})}")
        assert response.status_code == 400, (url, value)
        assert b"control characters" in response.content


def test_a_null_character_in_the_booking_search_is_a_400(front_desk_client):
    response = front_desk_client.get("/appointments/book/", {"q": "Day\x00"})
    assert response.status_code == 400


def project_forms() -> list[type[forms.BaseForm]]:
    """Every form class defined in the project's apps (their forms modules and views)."""
    found = set()
    for config in apps.get_app_configs():
        if not config.path.startswith(str(apps.get_app_config("patients").path).rsplit("/", 1)[0]):
            continue
        for module_name in ("forms", "views", "mfa", "security_views"):
            try:
                module = importlib.import_module(f"{config.name}.{module_name}")
            except ModuleNotFoundError:
                continue
            for _, value in inspect.getmembers(module, inspect.isclass):
                if issubclass(value, forms.BaseForm) and value.__module__.startswith(config.name):
                    found.add(value)
    return sorted(found, key=lambda form: f"{form.__module__}.{form.__qualname__}")


TEXT_FIELDS = [
    pytest.param(form, name, id=f"{form.__qualname__}.{name}")
    for form in project_forms()
    for name, field in form.base_fields.items()
    if isinstance(field, forms.CharField)
]


def test_the_forms_found_include_the_main_ones():
    names = {form.__qualname__ for form in project_forms()}
    assert {"PatientForm", "BookingForm", "ContactDetailsForm", "CheckInForm"} <= names


@settings(max_examples=10, deadline=None)
@given(
    before=st.text(max_size=10),
    control=st.sampled_from([chr(code) for code in [*range(0x01, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x85]]),
    after=st.text(max_size=10),
)
@pytest.mark.parametrize(("form", "name"), TEXT_FIELDS)
def test_every_text_field_refuses_control_characters(form, name, before, control, after):
    field = form.base_fields[name]
    with pytest.raises(ValidationError):
        # Between letters: a control character that is also whitespace would be stripped at either end.
        field.clean(f"{before}x{control}x{after}")


def test_a_control_character_in_a_posted_form_is_a_form_error_naming_it(front_desk_client, patient):
    response = front_desk_client.post(f"/patients/{patient.pk}/edit/", {"given_name": "Char\x1blie"})
    assert response.status_code == 200
    assert any("control characters" in error for error in response.context["form"].errors["given_name"])
    assert re.search(rb"control characters", response.content)


def test_every_email_field_checks_addresses_with_djangos_own_validator():
    """One rule for what an address is, everywhere: an address one form takes, no other refuses."""
    email_fields = [
        (form.__qualname__, name, field)
        for form in project_forms()
        for name, field in form.base_fields.items()
        if isinstance(field, forms.EmailField)
    ]
    assert email_fields, "the project's forms ask for email addresses"
    for form_name, name, field in email_fields:
        shape_checks = [check for check in field.validators if isinstance(check, (RegexValidator, EmailValidator))]
        assert [type(check) for check in shape_checks] == [EmailValidator], (form_name, name, shape_checks)


@pytest.mark.parametrize("address", ['"john..doe"@example.com', '"a@b"@example.org', "o'brien+pit@example.co.uk"])
def test_addresses_with_quoted_or_unusual_local_parts_register(front_desk_client, address):
    from tests.patients.test_registration import NEW_PATIENT

    response = front_desk_client.post("/patients/new/", {**NEW_PATIENT, "email": address})
    assert response.status_code == 302, response.context and response.context["form"].errors
