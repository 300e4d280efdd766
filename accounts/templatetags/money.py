"""One way to print money: grouped digits, the currency's own decimals, then its code."""

from decimal import Decimal

import moneyed
from django import template

register = template.Library()


def _number(value) -> str:
    places = max(len(str(moneyed.get_currency(str(value.currency)).sub_unit)) - 1, 0)
    return f"{Decimal(value.amount):,.{places}f}"


@register.filter
def money(value, signed: str = "") -> str:
    """`{{ entry.amount|money }}` -> "1,234.50 USD"; `|money:"signed"` adds "+" to credits."""
    if value is None or value == "":
        return "—"
    text = f"{_number(value)} {value.currency}"
    return f"+{text}" if signed == "signed" and value.amount > 0 else text


@register.filter
def money_number(value) -> str:
    """Just the digits, for where the currency code is set apart (the big balance)."""
    return "—" if value is None or value == "" else _number(value)
