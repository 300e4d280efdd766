"""The long tables' cheaper cells say exactly what Django's own filters said, in both languages
and in the reader's time zone: `|stamp` as `|date:"Y-m-d H:i"`, `|label` as `get_*_display`,
and the chart's dots as `|date:"M j"` with the money filter."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone, translation
from djmoney.money import Money

from accounts.charts import balance_chart, short_day_format
from accounts.models import LedgerEntry
from billing_center.keyset import Cursor
from topups.models import TopUp

LANGUAGES = ("en", "zh-hans")


def render(source: str, **context) -> str:
    return Template("{% load cells money %}" + source).render(Context(context))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/Los_Angeles"])
def test_stamp_and_label_read_like_djangos_date_filter_and_display(language, zone):
    entries = [
        LedgerEntry(kind=kind, created_at=datetime(2026, 12, 31, 16, 30, 5, 123456, tzinfo=UTC) + timedelta(hours=n))
        for n, kind in enumerate(LedgerEntry.Kind.values)
    ]
    topups = [TopUp(status=status) for status in TopUp.Status.values]
    with translation.override(language), timezone.override(zone):
        for entry in entries:
            assert render('{{ e.created_at|stamp }} {{ e|label:"kind" }}', e=entry) == render(
                '{{ e.created_at|date:"Y-m-d H:i" }} {{ e.get_kind_display }}', e=entry
            )
        for topup in topups:
            assert render('{{ t|label:"status" }}', t=topup) == topup.get_status_display()
    assert render("{{ none|stamp }}", none=None) == ""


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_charts_dots_name_each_day_as_the_date_filter_does(language):
    days = [date(2026, 11, 29) + timedelta(days=n) for n in range(4)]  # across a month's end
    points = [(day, Money(n * 10 - 15, "USD")) for n, day in enumerate(days)]
    with translation.override(language):
        dots = str(balance_chart(points).dots)
        for day, money in points:
            assert render("<title>{{ d|date:f }}: {{ m|money }}</title>", d=day, m=money, f=short_day_format()) in dots
    assert ("<title>Nov 29: " if language == "en" else "<title>11月29日: ") in dots


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor(datetime(2026, 12, 3, 15, 4, 5, 123456, tzinfo=UTC), 42),
        Cursor(datetime(1970, 1, 1, tzinfo=UTC), 1, "online"),
        Cursor(date(2026, 12, 3), 7),
        Cursor(981, 981),
    ],
)
def test_a_cursor_reads_back_as_the_row_it_was_written_for(cursor):
    assert Cursor.parse(str(cursor)) == cursor
