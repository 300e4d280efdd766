from django import template
from django.utils.html import format_html
from djmoney.money import Money

from money.formatting import format_money, format_rate, money_parts

register = template.Library()


@register.filter
def money(value, signed: str = "") -> str:
    """`{{ entry.amount|money }}` -> "1,234.50 USD"; `|money:"signed"` adds "+" to credits."""
    if value is None or value == "":
        return "—"
    return format_money(value, signed=signed == "signed")


@register.filter
def money_inline(value) -> str:
    """An amount inside a sentence on a page, kept on one line: "-US$86.40" had broken after its minus sign on a
    phone, the highest balance reading as a positive one. `|money` stays plain text, for e-mails too."""
    return format_html('<span class="num">{}</span>', money(value))


@register.filter
def money_big(value) -> str:
    """The big balance: large digits, the currency small where the reader's language writes it,
    "164.20 USD" in English and "US$164.20" in Chinese, like every other amount on the page."""
    if value is None or value == "":
        return "—"
    sign, before, digits, after = money_parts(value)
    before_html = format_html('<span class="cur cur-before">{}</span>', before) if before else ""
    after_html = format_html('<span class="cur">{}</span>', after.strip()) if after else ""
    return format_html("{}{}{}{}", sign, before_html, digits, after_html)


@register.filter
def money_pattern(currency) -> str:
    """How the reader's language writes an amount of `currency`, "%s" for the digits ("US$%s", "%s USD"):
    for a script that prints amounts as the server does (the Pay page's live quote)."""
    _, before, _, after = money_parts(Money(1, str(currency)))
    return f"{before}%s{after}"


@register.filter
def rate(value) -> str:
    return "—" if value is None or value == "" else format_rate(value)
