"""Finance's holiday calendar: the days it enters in admin win over the `holidays` package's, so
the three-working-day deadline skips an entered holiday and counts an entered make-up working day;
the queue and the admin home warn while next year has no entered days."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission

from tests.helpers import staff_login
from tests.tickets.conftest import details, upload
from tickets.certificates import check_certificate
from tickets.intake import submit_ticket
from tickets.models import CalendarDay
from tickets.working_days import due_at

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = "/admin/tickets/calendarday/"
QUEUE = "/admin/tickets/transferticket/"

# Spring Festival 2027 as finance enters it from the State Council's notice: Friday 5 to Saturday
# 13 February off (New Year's Eve is the 5th), the Sundays 31 January and 14 February worked.
SPRING_FESTIVAL_2027 = [
    *((date(2027, 2, day), "holiday", "春节 Spring Festival") for day in range(5, 14)),
    (date(2027, 1, 31), "working_day", "春节调休上班 Spring Festival make-up working day"),
    (date(2027, 2, 14), "working_day", "春节调休上班 Spring Festival make-up working day"),
]


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def calendar_clerk(clerk):
    """A finance clerk who may keep the holiday calendar."""
    codenames = ["view_calendarday", "add_calendarday", "change_calendarday", "delete_calendarday"]
    clerk.groups.first().permissions.add(*Permission.objects.filter(codename__in=codenames))
    return type(clerk).objects.get(pk=clerk.pk)


def enter_in_admin(client, days):
    for day, kind, name in days:
        response = client.post(f"{CALENDAR}add/", {"date": day.isoformat(), "kind": kind, "name": name})
        assert response.status_code == 302, response.content.decode()[:2000]


def file_ticket(customer, bank, at: datetime):
    certificates = [check_certificate(upload())]
    return submit_ticket(
        account_id=customer.account_id, user=customer, details=details(bank), certificates=certificates, now=at
    )


@pytest.mark.parametrize(
    "filed, due",
    [
        # The day before the holiday: the holiday is skipped, the make-up Sunday after it counts.
        (datetime(2027, 2, 4, 10, 0, tzinfo=SHANGHAI), date(2027, 2, 16)),
        # The Friday before the make-up Sunday 31 January: that Sunday is the first working day.
        (datetime(2027, 1, 29, 16, 0, tzinfo=SHANGHAI), date(2027, 2, 2)),
        # Inside the holiday: the make-up Sunday 14 February is the first working day.
        (datetime(2027, 2, 8, 9, 0, tzinfo=SHANGHAI), date(2027, 2, 16)),
        # After it: Thursday, Friday, and Saturday 20th is an ordinary weekend again, so Monday.
        (datetime(2027, 2, 17, 11, 0, tzinfo=SHANGHAI), date(2027, 2, 22)),
    ],
)
def test_a_deadline_across_spring_festival_2027_uses_the_calendar_finance_entered(
    client, calendar_clerk, customer, bank, settings, filed, due
):
    settings.FINANCE_COUNTRY, settings.FINANCE_TIME_ZONE = "CN", "Asia/Shanghai"
    staff_login(client, calendar_clerk)
    enter_in_admin(client, SPRING_FESTIVAL_2027)
    assert CalendarDay.objects.count() == 11
    assert set(CalendarDay.objects.values_list("created_by", flat=True)) == {calendar_clerk.pk}

    ticket = file_ticket(customer, bank, filed)

    assert ticket.due_at == end_of(due)


def test_without_the_entered_days_the_package_guesses_and_misses_the_make_up_sunday():
    """What the calendar changes: the package ends the holiday on the 10th and works no Sunday."""
    filed = datetime(2027, 2, 4, 10, 0, tzinfo=SHANGHAI)
    assert due_at(filed, country="CN", time_zone="Asia/Shanghai") == end_of(date(2027, 2, 15))


@pytest.mark.parametrize(
    "entered, filed, due",
    [
        # An entered holiday on a weekday the package works: skipped.
        ({date(2026, 11, 25): (False, "Company day")}, date(2026, 11, 24), date(2026, 11, 30)),
        # An entered make-up Saturday: worked.
        ({date(2026, 11, 28): (True, "Make-up")}, date(2026, 11, 26), date(2026, 11, 30)),
        # A weekday the package takes for a holiday, entered as a working day: worked.
        ({date(2026, 10, 7): (True, "Worked")}, date(2026, 9, 30), date(2026, 10, 9)),
    ],
)
def test_entered_days_win_over_the_packages_on_their_date(entered, filed, due):
    submitted = datetime(filed.year, filed.month, filed.day, 10, 0, tzinfo=SHANGHAI)
    assert due_at(submitted, country="CN", time_zone="Asia/Shanghai", entered=entered) == end_of(due)


def test_the_queue_and_the_home_warn_while_next_year_has_no_entered_days(client, calendar_clerk, settings):
    staff_login(client, calendar_clerk)
    from django.utils import timezone

    next_year = timezone.localdate().year + 1
    for url in (QUEUE, "/admin/", CALENDAR):
        page = client.get(url).content.decode()
        assert 'data-testid="calendar-warning"' in page, url
        assert f"entered for {next_year} yet" in page
        assert f'href="{CALENDAR}"' in page

    enter_in_admin(client, [(date(next_year, 1, 1), "holiday", "New Year's Day")])
    for url in (QUEUE, "/admin/", CALENDAR):
        assert 'data-testid="calendar-warning"' not in client.get(url).content.decode(), url


def test_the_calendar_warning_in_chinese(client, calendar_clerk):
    staff_login(client, calendar_clerk)
    page = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "节假日日历" in page
    assert "国务院" in page


def test_the_calendar_keeps_its_history_with_who_entered_each_day(client, calendar_clerk):
    staff_login(client, calendar_clerk)
    enter_in_admin(client, SPRING_FESTIVAL_2027[:1])
    day = CalendarDay.objects.get()
    assert day.history.get().history_user == calendar_clerk
    page = client.get(f"{CALENDAR}{day.pk}/history/").content.decode()
    assert calendar_clerk.username in page


def test_a_days_name_is_kept_as_text_without_control_or_direction_characters(client, calendar_clerk):
    """A name pasted with a right-to-left override (U+202E) had been kept, and shown reversed after it."""
    staff_login(client, calendar_clerk)
    answer = client.post(f"{CALENDAR}add/", {"date": "2027-02-06", "kind": "holiday", "name": "春节\u202e"})
    assert answer.status_code == 302
    assert CalendarDay.objects.get().name == "春节"
