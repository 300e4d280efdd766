"""One way to print money: grouped digits, the currency's own decimals, then its code."""

from decimal import Decimal

import moneyed


def minor_places(currency: str) -> int:
    """Decimal places of a currency's minor unit: 2 for USD, 0 for JPY."""
    return len(str(moneyed.get_currency(currency).sub_unit)) - 1


def _places(value) -> int:
    return minor_places(str(value.currency))


def money_digits(value) -> str:
    return f"{Decimal(value.amount):,.{_places(value)}f}"


def plain_amount(value) -> str:
    """For machines (CSV): no grouping, the currency's own decimals: "15100", "-12.50"."""
    return f"{Decimal(value.amount):.{_places(value)}f}"


def format_money(value, *, signed: bool = False) -> str:
    """Money("1234.5", "USD") -> "1,234.50 USD"; signed adds "+" to positive amounts."""
    text = f"{money_digits(value)} {value.currency}"
    return f"+{text}" if signed and value.amount > 0 else text


def format_rate(rate: Decimal) -> str:
    """An exchange rate with four decimals, or more when it has them: 7.1000, 7.123456."""
    four = rate.quantize(Decimal("0.0001"))
    return f"{four:.4f}" if four == rate else f"{rate.normalize():f}"
