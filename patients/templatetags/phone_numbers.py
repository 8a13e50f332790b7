"""`{{ number|phone }}`: a stored phone number as staff read it."""

from functools import lru_cache

import phonenumbers
from django import template
from phonenumber_field.phonenumber import PhoneNumber

register = template.Library()

FORMATTED_REMEMBERED = 8192  # some 40 bytes each


@lru_cache(maxsize=FORMATTED_REMEMBERED)
def international(stored: str) -> str:
    """A number as stored (E.164, +447911123402) in international form (+44 7911 123402).

    Reading a number into a PhoneNumber parses it, some hundred microseconds, and formatting it takes most of
    another: a page of 25 search results spent half its time on its phone numbers. Read as text and remembered
    here, a number seen before costs a look-up."""
    try:
        number = phonenumbers.parse(stored)
    except phonenumbers.NumberParseException:
        return stored  # not in E.164 after all: shown as it is
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@register.filter
def phone(number: PhoneNumber | str | None) -> str:
    """The number in international form (+44 7911 123402), or "" when there is none: a PhoneNumber, or a number as
    stored (read as text).

    The field's own str() first checks the number against its region's numbering plan, some fifty
    microseconds, and `|default` asks for it twice. A stored number was checked when it was entered."""
    if isinstance(number, PhoneNumber):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return international(number) if number else ""
