"""One way to print money: grouped digits, the currency's own decimals, then its code."""

from decimal import Decimal

import moneyed


def money_digits(value) -> str:
    places = len(str(moneyed.get_currency(str(value.currency)).sub_unit)) - 1
    return f"{Decimal(value.amount):,.{places}f}"


def format_money(value, *, signed: bool = False) -> str:
    """Money("1234.5", "USD") -> "1,234.50 USD"; signed adds "+" to positive amounts."""
    text = f"{money_digits(value)} {value.currency}"
    return f"+{text}" if signed and value.amount > 0 else text


def format_rate(rate: Decimal) -> str:
    """An exchange rate with four decimals, or more when it has them: 7.1000, 7.123456."""
    four = rate.quantize(Decimal("0.0001"))
    return f"{four:.4f}" if four == rate else f"{rate.normalize():f}"
