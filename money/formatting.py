"""One way to print money, for the reader's language: Babel's currency formats.

English keeps the product's own pattern, grouped digits, the currency's decimals, then its code
("1,234.50 USD": statements, CSVs and e-mails have always read so). Simplified Chinese uses the
zh_Hans_CN locale's standard pattern, the symbol first ("US$1,234.50", "¥7,100.00", "JP¥15,100").
`str(Money)` prints the same text: settings.MONEY_FORMAT hands django-money READER_PATTERN.
"""

from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

import moneyed
from babel import Locale
from babel.numbers import NumberPattern, format_currency, parse_pattern
from django.utils import translation

# The active Django language → the Babel locale its readers expect.
BABEL_LOCALES = {"en": "en_US", "zh-hans": "zh_Hans_CN"}
DEFAULT_LOCALE = "en_US"
# A language missing here uses its locale's own currency pattern.
PATTERNS = {"en": parse_pattern("#,##0.00 ¤¤")}
DIGITS = parse_pattern("#,##0.00")


@lru_cache(maxsize=256)
def minor_places(currency: str) -> int:
    """Decimal places of a currency's minor unit: 2 for USD, 0 for JPY."""
    return len(str(moneyed.get_currency(currency).sub_unit)) - 1


def _language(language: str | None = None) -> str:
    code = (language or translation.get_language() or "en").lower()
    return code if code in BABEL_LOCALES else code.split("-")[0]


def babel_locale(language: str | None = None) -> str:
    """The Babel locale for a Django language code (the active one by default): "zh-hans" → "zh_Hans_CN"."""
    return BABEL_LOCALES.get(_language(language), DEFAULT_LOCALE)


@lru_cache(maxsize=16)
def _locale(language: str) -> Locale:
    """Babel's Locale for a language, parsed once: given by name, Babel parses it on every call
    (a third of the cost of formatting an amount)."""
    return Locale.parse(babel_locale(language))


@lru_cache(maxsize=8192)
def _formatted(digits_only: bool, amount: Decimal, currency: str, language: str) -> str:
    """Babel's formatting, remembered: a statement's e-mails print the same few amounts thousands of times."""
    pattern = DIGITS if digits_only else PATTERNS.get(language)
    return format_currency(amount, currency, format=pattern, locale=_locale(language))


def _apply(amount, currency: str, *, digits_only: bool = False) -> str:
    return _formatted(digits_only, Decimal(amount), currency, _language())


def money_digits(value) -> str:
    """Just the grouped digits with the currency's decimals: "1,234.50", "15,100" (JPY)."""
    return _apply(value.amount, str(value.currency), digits_only=True)


def plain_amount(value) -> str:
    """For machines (CSV): no grouping, the currency's own decimals: "15100", "-12.50"."""
    return plain_decimal(value.amount, str(value.currency))


def plain_decimal(amount, currency: str) -> str:
    """plain_amount of an amount and a currency code, without building a Money (a CSV's million rows)."""
    return f"{Decimal(amount):.{minor_places(currency)}f}"


def format_money(value, *, signed: bool = False) -> str:
    """Money("1234.5", "USD") → "1,234.50 USD" in English, "US$1,234.50" in Chinese; signed adds
    "+" to positive amounts."""
    text = _apply(value.amount, str(value.currency))
    return f"+{text}" if signed and value.amount > 0 else text


class MoneyParts(NamedTuple):
    """format_money's text in the pieces a page styles apart; joined, they are that text."""

    sign: str  # "-" or ""
    before: str  # what precedes the digits: "US$" in Chinese, "" in English
    digits: str  # "1,234.50"
    after: str  # what follows them: " USD" in English, "" in Chinese


def money_parts(value) -> MoneyParts:
    """An amount as the reader's language writes it, in parts, for a page that sets the currency apart
    (the big balance, the Pay page's live quote): "US$" before the digits in Chinese, " USD" after them in
    English, so it reads like every other amount on the page."""
    amount, currency = Decimal(value.amount), str(value.currency)
    digits = _apply(abs(amount), currency, digits_only=True)
    before, found, after = _apply(abs(amount), currency).partition(digits)
    if not found:  # a pattern that writes the digits otherwise: the whole text, undivided
        return MoneyParts("", "", format_money(value), "")
    return MoneyParts("-" if amount < 0 else "", before, digits, after)


class ReaderPattern(NumberPattern):
    """The money pattern of the language active when it is applied, for django-money's
    MONEY_FORMAT: str(Money) then reads like format_money in every language."""

    def __init__(self):  # no pattern of its own: each apply picks the reader's
        pass

    def apply(self, value, locale, currency=None, **options) -> str:
        return _apply(value, currency)


READER_PATTERN = ReaderPattern()


def format_rate(rate: Decimal) -> str:
    """An exchange rate with four decimals, or more when it has them: 7.1000, 7.123456."""
    four = rate.quantize(Decimal("0.0001"))
    return f"{four:.4f}" if four == rate else f"{rate.normalize():f}"
