"""Money for the reader's locale (Babel): English keeps "1,234.50 USD"; Simplified Chinese reads
as zh_Hans_CN writes it, the symbol first (US$, ¥, JP¥), grouped by thousands, the currency's
own decimals; str(Money) prints the same; Django's formats localise dates."""

from datetime import date

import pytest
from django.template import Context, Template
from django.utils import translation
from djmoney.money import Money

from money.formatting import babel_locale, format_money, money_digits, money_parts, plain_amount

CASES = [
    ("1234.5", "USD", "1,234.50 USD", "US$1,234.50"),
    ("-12.5", "USD", "-12.50 USD", "-US$12.50"),
    ("7100", "CNY", "7,100.00 CNY", "¥7,100.00"),
    ("15100", "JPY", "15,100 JPY", "JP¥15,100"),
    ("1000000", "EUR", "1,000,000.00 EUR", "€1,000,000.00"),
    ("0", "GBP", "0.00 GBP", "£0.00"),
]


@pytest.mark.parametrize("amount, currency, english, chinese", CASES)
def test_money_reads_as_each_language_writes_it(amount, currency, english, chinese):
    value = Money(amount, currency)
    with translation.override("en"):
        assert format_money(value) == english
        assert str(value) == english
    with translation.override("zh-hans"):
        assert format_money(value) == chinese
        assert str(value) == chinese


def test_signed_money_and_bare_digits():
    with translation.override("zh-hans"):
        assert format_money(Money("5", "CNY"), signed=True) == "+¥5.00"
        assert money_digits(Money("1234567.891", "USD")) == "1,234,567.89"
        assert plain_amount(Money("15100", "JPY")) == "15100"  # machines get no grouping in any language
    with translation.override("en"):
        assert format_money(Money("5", "USD"), signed=True) == "+5.00 USD"


def test_each_language_has_its_babel_locale():
    assert babel_locale("en") == "en_US"
    assert babel_locale("zh-hans") == "zh_Hans_CN"
    assert babel_locale("fr") == "en_US"  # a language we do not offer falls back to English's


@pytest.mark.parametrize("amount, currency, english, chinese", CASES)
def test_money_in_parts_joins_into_the_same_text(amount, currency, english, chinese):
    """The big balance and the Pay page's live quote style the currency apart; joined, the parts are
    what every other amount on the page reads."""
    value = Money(amount, currency)
    for language, text in (("en", english), ("zh-hans", chinese)):
        with translation.override(language):
            assert "".join(money_parts(value)) == text
    with translation.override("zh-hans"):
        assert money_parts(Money("-12.5", "USD")) == ("-", "US$", "12.50", "")
    with translation.override("en"):
        assert money_parts(Money("-12.5", "USD")) == ("-", "", "12.50", " USD")


def test_the_money_filters_follow_the_page_language():
    template = Template("{% load money %}{{ value|money }} · {{ value|money_big }} · {{ 'CNY'|money_pattern }}")
    with translation.override("zh-hans"):
        assert template.render(Context({"value": Money("-1500", "USD")})) == (
            '-US$1,500.00 · -<span class="cur cur-before">US$</span>1,500.00 · ¥%s'
        )
    with translation.override("en"):
        assert template.render(Context({"value": Money("1500", "USD")})) == (
            '1,500.00 USD · 1,500.00<span class="cur">USD</span> · %s CNY'
        )


def test_dates_without_a_format_follow_djangos_formats_for_the_language():
    template = Template("{{ day|date }}")
    with translation.override("zh-hans"):
        assert template.render(Context({"day": date(2027, 2, 6)})) == "2027年2月6日"
    with translation.override("en"):
        assert template.render(Context({"day": date(2027, 2, 6)})) == "Feb. 6, 2027"
