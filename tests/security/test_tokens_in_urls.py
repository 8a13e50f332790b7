"""No secret travels in a URL: a form sent by GET carries no CSRF token, since its fields end up in the address
bar, the browser's history and the server's access log."""

from html.parser import HTMLParser

import pytest

from tests.security.test_hostile_input import client_allowed, openable_routes
from tests.test_url_matrix import MATRIX


class GetFormTokens(HTMLParser):
    """Counts CSRF token inputs inside <form>s that are sent by GET (a form without a method is one)."""

    def __init__(self):
        super().__init__()
        self.in_get_form = False
        self.tokens_in_get_forms = 0
        self.get_forms = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.in_get_form = (attributes.get("method") or "get").lower() == "get"
            self.get_forms += self.in_get_form
        elif tag == "input" and self.in_get_form and attributes.get("name") == "csrfmiddlewaretoken":
            self.tokens_in_get_forms += 1

    def handle_endtag(self, tag):
        if tag == "form":
            self.in_get_form = False


def get_form_tokens(html: str) -> GetFormTokens:
    parser = GetFormTokens()
    parser.feed(html)
    return parser


def test_the_check_finds_a_token_in_a_get_form():
    html = '<form method="get"><input type="hidden" name="csrfmiddlewaretoken" value="x"></form><form method="post">'
    assert get_form_tokens(html).tokens_in_get_forms == 1


@pytest.mark.parametrize("route", openable_routes())
def test_no_page_puts_a_csrf_token_in_a_form_sent_by_get(request, route, patient):
    row = MATRIX[route]
    response = client_allowed(request, row).get(row.url(patient))
    assert response.status_code == 200
    if not response["Content-Type"].startswith("text/html"):
        return  # a download or an export: no form at all
    assert get_form_tokens(response.content.decode()).tokens_in_get_forms == 0


def test_the_slot_finder_searches_without_a_token_in_its_address(front_desk_client):
    page = front_desk_client.get("/appointments/slots/")
    found = get_form_tokens(page.content.decode())
    assert found.get_forms >= 1
    assert found.tokens_in_get_forms == 0
