"""The three-working-day deadline, as table tests: time is a parameter."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tickets.working_days import due_at

pytestmark = pytest.mark.django_db  # the days finance entered are read from the database

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    "submitted, due",
    [
        # An ordinary Tuesday morning: Wed, Thu, Fri.
        (datetime(2026, 11, 24, 9, 30, tzinfo=SHANGHAI), datetime(2026, 11, 27, 23, 59, 59, tzinfo=SHANGHAI)),
        # Friday evening: the day never counts, the weekend neither: Mon, Tue, Wed.
        (datetime(2026, 11, 27, 21, 45, tzinfo=SHANGHAI), datetime(2026, 12, 2, 23, 59, 59, tzinfo=SHANGHAI)),
        # Saturday: the same Wednesday.
        (datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI), datetime(2026, 12, 2, 23, 59, 59, tzinfo=SHANGHAI)),
        # Friday evening in UTC is already Saturday in Shanghai: counted in finance's zone.
        (datetime(2026, 11, 27, 17, 0, tzinfo=UTC), datetime(2026, 12, 2, 23, 59, 59, tzinfo=SHANGHAI)),
        # Before the National Day week: Oct 1-7 are public holidays; Oct 10 (a Saturday) is a make-up working day.
        (datetime(2026, 9, 30, 15, 0, tzinfo=SHANGHAI), datetime(2026, 10, 10, 23, 59, 59, tzinfo=SHANGHAI)),
        # A make-up Saturday before Spring Festival counts as a working day (Feb 14, 2026).
        (datetime(2026, 2, 12, 11, 0, tzinfo=SHANGHAI), datetime(2026, 2, 24, 23, 59, 59, tzinfo=SHANGHAI)),
        # Across New Year: Jan 1 is a holiday; the calendar of the next year is used.
        (datetime(2026, 12, 30, 16, 0, tzinfo=SHANGHAI), datetime(2027, 1, 5, 23, 59, 59, tzinfo=SHANGHAI)),
    ],
)
def test_three_working_days_in_china(submitted, due):
    assert due_at(submitted, country="CN", time_zone="Asia/Shanghai") == due.astimezone(UTC)


def test_the_due_time_across_a_dst_change_keeps_the_local_end_of_day():
    """Berlin leaves summer time on 25 Oct 2026: the deadline is 23:59:59 local, +01:00, not +02:00."""
    due = due_at(datetime(2026, 10, 23, 14, 0, tzinfo=BERLIN), country="DE", time_zone="Europe/Berlin")
    assert due == datetime(2026, 10, 28, 22, 59, 59, tzinfo=UTC)
    assert due.astimezone(BERLIN).utcoffset().total_seconds() == 3600


def test_another_countrys_public_holidays():
    christmas = due_at(datetime(2026, 12, 23, 10, 0, tzinfo=BERLIN), country="DE", time_zone="Europe/Berlin")
    assert christmas.astimezone(BERLIN).date().isoformat() == "2026-12-29"  # 24th, 28th, 29th (25/26 are holidays)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        due_at(datetime(2026, 11, 24, 9, 30))
