from django import template

from money.formatting import format_money, format_rate, money_digits

register = template.Library()


@register.filter
def money(value, signed: str = "") -> str:
    """`{{ entry.amount|money }}` -> "1,234.50 USD"; `|money:"signed"` adds "+" to credits."""
    if value is None or value == "":
        return "—"
    return format_money(value, signed=signed == "signed")


@register.filter
def money_number(value) -> str:
    """Just the digits, for where the currency code is set apart (the big balance)."""
    return "—" if value is None or value == "" else money_digits(value)


@register.filter
def rate(value) -> str:
    return "—" if value is None or value == "" else format_rate(value)
