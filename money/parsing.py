"""The one parser for what people and machines send us: amounts, codes, ids and tokens.

Only plain ASCII digits are numbers here. Python's own parsers are generous: Decimal()
takes "1e3", "NaN" and "١٢", int() takes "²"-free full-width "８６８５", str.isdigit() takes
"²". None of those is what a person typed on a keyboard for an amount or a code, and some
read as a different number than the one shown, so every form, query string, JSON body and
admin field goes through these functions instead.
"""

import re
import uuid
from decimal import Decimal

from django.utils.translation import gettext as _

from .errors import Invalid
from .formatting import minor_places

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_AMOUNT = re.compile(r"[0-9]{1,12}(?:\.[0-9]+)?", re.ASCII)
_LONG_AMOUNT = re.compile(r"[0-9]{13,}(?:\.[0-9]+)?", re.ASCII)  # digits, but more than any column holds
_FULL_WIDTH = re.compile(r"[０-９．]")  # what a Chinese keyboard types in full-width mode
LARGEST_ID = 2**63 - 1  # a BIGINT primary key


def is_digits(text: str, *, length: int | None = None, max_length: int | None = None) -> bool:
    """True when `text` is plain ASCII digits (of exactly `length`, or at most `max_length`)."""
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        return False
    if length is not None and len(text) != length:
        return False
    return max_length is None or len(text) <= max_length


def parse_code(text: str, *, length: int, message: str = "") -> str:
    """A one-time code of exactly `length` ASCII digits, spaces around it ignored."""
    code = text.strip() if isinstance(text, str) else ""
    if not is_digits(code, length=length):
        raise Invalid(
            message or _("Enter the %(length)s-digit code in plain digits (0–9).") % {"length": length}, code="bad_code"
        )
    return code


def parse_id(value, *, what: str = "id", minimum: int = 1) -> int:
    """A database id from a URL, a form or JSON: a JSON integer or a string of ASCII digits,
    minimum … 2⁶³−1 (an API may take 0 as well formed and answer that it names nothing)."""
    if isinstance(value, bool):
        raise Invalid(_("%(what)s: a whole number of plain digits.") % {"what": what}, code="bad_id")
    text = str(value) if isinstance(value, int) else value
    if not isinstance(text, str) or not is_digits(text, max_length=19) or not minimum <= int(text) <= LARGEST_ID:
        raise Invalid(_("%(what)s: a whole number of plain digits.") % {"what": what}, code="bad_id")
    return int(text)


def parse_amount(value, currency: str, *, maximum: Decimal | None = None) -> Decimal:
    """A positive amount in plain digits with at most the currency's decimals: "100", "99.50".

    `value` is text (a form field, a query string, a JSON string or the raw text of a JSON
    number) or a JSON integer. Exponents ("1e3"), signs, separators, NaN and non-ASCII
    digits are refused with a message that says what to type instead: full-width digits (a
    Chinese keyboard's) are asked for in half-width, and more digits than any column holds are
    "too large", not "not digits".
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(_('Enter the amount as plain digits, e.g. "12.34".'), code="bad_amount")
    raw = str(value).strip()
    places = minor_places(currency)
    if "," in raw:
        raise Invalid(_("Use a dot for decimals and no thousands separators, e.g. 1250.50."), code="bad_amount")
    if raw.startswith("-"):
        raise Invalid(_("The amount must be positive."), code="bad_amount")
    if not _AMOUNT.fullmatch(raw):
        if _LONG_AMOUNT.fullmatch(raw):
            message = _("The amount is too large.")
            if maximum is not None:
                message = _("The amount can be at most %(maximum)s.") % {"maximum": maximum}
        elif _FULL_WIDTH.search(raw):
            message = _("Type the amount in half-width digits (0–9), e.g. %(example)s.") % {"example": _example(places)}
        else:
            message = _("Enter the amount in digits, e.g. %(example)s.") % {"example": _example(places)}
        raise Invalid(message, code="bad_amount")
    amount = Decimal(raw)
    if places == 0 and "." in raw:
        # No decimal point at all: in many locales "100.000" JPY means a hundred thousand.
        message = _("%(currency)s has no minor unit: enter a whole number, e.g. 100.") % {"currency": currency}
        raise Invalid(message, code="bad_amount")
    if amount != amount.quantize(Decimal(1).scaleb(-places)):  # exact: "1.50" and "1.500" are fine, "1.001" is not
        message = _("Enter the amount with at most %(places)s decimals, e.g. %(example)s.")
        raise Invalid(message % {"places": places, "example": _example(places)}, code="bad_amount")
    if amount <= 0:
        raise Invalid(_("The amount must be greater than zero."), code="bad_amount")
    if maximum is not None and amount > maximum:
        raise Invalid(_("The amount can be at most %(maximum)s.") % {"maximum": maximum}, code="bad_amount")
    return amount


def _example(places: int) -> str:
    """An amount to show in a message (translated only when a message needs it: a batch parses a
    thousand amounts)."""
    return "100" if places == 0 else _("100 or 99.50")


def uuid_or_none(value: str):
    """A UUID (one of our public ids or tokens), or None for anything else: never an error."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        return None
