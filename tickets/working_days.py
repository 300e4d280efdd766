"""Three working days, as the finance team counts them: in its own country's public
holiday calendar (China's weekend make-up working days included, via `holidays`) and
its own time zone. A ticket's due time is computed once, at submission, and stored in UTC.
"""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings

END_OF_DAY = time(23, 59, 59)


def finance_calendar(year: int, *, country: str | None = None, subdivision: str | None = None):
    """The finance team's public holidays for `year` and the next (a deadline can cross New Year)."""
    return holidays.country_holidays(
        country or settings.FINANCE_COUNTRY,
        subdiv=subdivision or settings.FINANCE_SUBDIVISION or None,
        years=(year, year + 1),
    )


def due_at(
    submitted_at: datetime,
    *,
    working_days: int | None = None,
    country: str | None = None,
    subdivision: str | None = None,
    time_zone: str | None = None,
) -> datetime:
    """The end (23:59:59 local) of the n-th working day after the day of submission, in UTC.

    The day of submission never counts, whatever the hour: a ticket sent on Friday evening
    or on Saturday has Monday as its first working day.
    """
    if submitted_at.tzinfo is None:
        raise ValueError("submitted_at must be an aware datetime")
    zone = ZoneInfo(time_zone or settings.FINANCE_TIME_ZONE)
    local_day = submitted_at.astimezone(zone).date()
    calendar = finance_calendar(local_day.year, country=country, subdivision=subdivision)
    due_day = calendar.get_nth_working_day(local_day, working_days or settings.TICKET_WORKING_DAYS)
    return datetime.combine(due_day, END_OF_DAY, tzinfo=zone).astimezone(UTC)
