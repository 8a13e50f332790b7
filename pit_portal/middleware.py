"""Requests refused before any view sees them, and the text check every form's text fields share."""

import re
from collections.abc import Callable

from django.core.validators import RegexValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

# C0 and C1 control characters and DEL, but tab and line breaks, which a textarea may hold.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
MESSAGE = (
    "The address contains control characters (such as a null character) that no search or page accepts. "
    "Go back, retype what you searched for rather than pasting it, and try again."
)

# Every form text field carries this (pit_portal.apps), so typed text is refused with a form error, never stored.
# NUL is left to the check Django's CharField makes already, so it is named once.
no_control_characters = RegexValidator(
    r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]",
    inverse_match=True,
    message="Remove the control characters (invisible ones such as escape) from this text: they cannot be stored.",
    code="control_characters",
)


def has_control_characters(data) -> bool:
    return any(CONTROL_CHARACTERS.search(key) or any(map(CONTROL_CHARACTERS.search, data.getlist(key))) for key in data)


class RefuseControlCharactersMiddleware:
    """A 400 with a plain message for a query string holding control characters, so no search, filter or id
    lookup meets them (PostgreSQL cannot take a NUL). Posted forms answer with a form error instead."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if has_control_characters(request.GET):
            return render(request, "400.html", {"reason": MESSAGE}, status=400)
        return self.get_response(request)
