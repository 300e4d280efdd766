"""Three working days, as the finance team counts them: in its own country's public
holiday calendar (China's weekend make-up working days included, via `holidays`), with the
days finance entered itself (tickets.CalendarDay) winning over the package's, and in its own
time zone. A ticket's due time is computed once, at submission, and stored in UTC.
"""

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings

END_OF_DAY = time(23, 59, 59)


def entered_days(first_year: int, last_year: int) -> dict[date, tuple[bool, str]]:
    """Finance's entered days in these years: date → (is a working day, name)."""
    from .models import CalendarDay

    rows = CalendarDay.objects.filter(date__year__gte=first_year, date__year__lte=last_year)
    return {row.date: (row.is_working_day, row.name) for row in rows}


def finance_calendar(
    year: int,
    *,
    country: str | None = None,
    subdivision: str | None = None,
    entered: Mapping[date, tuple[bool, str]] | None = None,
):
    """The finance team's public holidays for `year` and the next (a deadline can cross New Year),
    with finance's entered days (read from the database unless given) over the package's."""
    calendar = holidays.country_holidays(
        country or settings.FINANCE_COUNTRY,
        subdiv=subdivision or settings.FINANCE_SUBDIVISION or None,
        years=(year, year + 1),
    )
    for day, (working, name) in (entered_days(year, year + 1) if entered is None else entered).items():
        if working:
            if day in calendar:
                calendar.pop(day)
            if day.weekday() >= 5:
                calendar.weekend_workdays.add(day)
        else:
            calendar[day] = name
            calendar.weekend_workdays.discard(day)
    return calendar


def due_at(
    submitted_at: datetime,
    *,
    working_days: int | None = None,
    country: str | None = None,
    subdivision: str | None = None,
    time_zone: str | None = None,
    entered: Mapping[date, tuple[bool, str]] | None = None,
) -> datetime:
    """The end (23:59:59 local) of the n-th working day after the day of submission, in UTC.

    The day of submission never counts, whatever the hour: a ticket sent on Friday evening
    or on Saturday has Monday as its first working day.
    """
    if submitted_at.tzinfo is None:
        raise ValueError("submitted_at must be an aware datetime")
    zone = ZoneInfo(time_zone or settings.FINANCE_TIME_ZONE)
    local_day = submitted_at.astimezone(zone).date()
    calendar = finance_calendar(local_day.year, country=country, subdivision=subdivision, entered=entered)
    due_day = calendar.get_nth_working_day(local_day, working_days or settings.TICKET_WORKING_DAYS)
    return datetime.combine(due_day, END_OF_DAY, tzinfo=zone).astimezone(UTC)


def next_year_unentered(today: date) -> int | None:
    """Next year, if finance has entered none of its days yet: its deadlines then rest on the
    package's guesses, without the make-up working days the State Council announces."""
    from .models import CalendarDay

    year = today.year + 1
    return None if CalendarDay.objects.filter(date__year=year).exists() else year
