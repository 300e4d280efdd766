"""A dependency-free SVG line chart of daily balances, drawn on the server.

No chart library and no inline script: the page stays fast and CSP-friendly. Each day's dot
(with its date and balance as a tooltip) is drawn here in one pass: thirty rounds of template
variables, filters and localisation cost more than the rest of the chart.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.dateformat import format as format_date
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import pgettext
from djmoney.money import Money

from money.formatting import format_money

WIDTH, HEIGHT, PAD_X, PAD_Y = 600, 160, 8, 14


@dataclass(frozen=True)
class BalanceChart:
    line: str  # SVG polyline points
    area: str  # SVG polygon points, the line closed down to the baseline
    zero_y: float | None  # where the zero line sits, when the range crosses it
    low: Money  # the lowest and highest balance shown, for the caption
    high: Money
    first_day: date
    last_day: date
    dots: SafeString  # a <circle> per day with its <title>; the last one drawn


def balance_chart(points: list[tuple[date, Money]]) -> BalanceChart:
    values = [money.amount for _, money in points]
    # The axis always includes zero, so a balance near zero does not look like a cliff.
    low, high = min(values + [Decimal(0)]), max(values + [Decimal(0)])
    span = (high - low) or Decimal(1)
    step = (WIDTH - 2 * PAD_X) / max(len(points) - 1, 1)

    def y_of(value: Decimal) -> float:
        return round(PAD_Y + float((high - value) / span) * (HEIGHT - 2 * PAD_Y), 1)

    coords = [(round(PAD_X + i * step, 1), y_of(money.amount), day, money) for i, (day, money) in enumerate(points)]
    line = " ".join(f"{x},{y}" for x, y, _, _ in coords)
    baseline = HEIGHT - PAD_Y
    area = f"{coords[0][0]},{baseline} {line} {coords[-1][0]},{baseline}"
    currency = points[0][1].currency
    day_format = short_day_format()
    dots = format_html_join(
        "",
        '<circle class="dot" cx="{}" cy="{}" r="{}"><title>{}: {}</title></circle>',
        (
            (
                x,
                y,
                4 if n == len(coords) - 1 else 0,
                format_date(day, day_format),
                format_money(money),
            )
            for n, (x, y, day, money) in enumerate(coords)
        ),
    )
    return BalanceChart(
        line=line,
        area=area,
        zero_y=y_of(Decimal(0)) if low < 0 else None,
        low=Money(min(values), currency),
        high=Money(max(values), currency),
        first_day=points[0][0],
        last_day=points[-1][0],
        dots=dots,
    )


def short_day_format() -> str:
    """A day on the chart in the reader's language: "Nov 4" in English, "11月4日" in Chinese
    (Django's "M j" would read "十一月 4")."""
    return pgettext("a day on a chart, Django date format", "M j")
