"""Bill reminders: once a few days before the due date and once when overdue, by e-mail to the
account's users and SMS to its confirmed numbers, through the outbox."""

from datetime import timedelta

import pytest

from accounts.models import AlertRecipient, OutboundEmail, OutboundSms
from bills.models import Bill
from bills.reminders import send_bill_reminders
from bills.settlement import repay
from tests.bills.conftest import NOVEMBER, at, charge, close

pytestmark = pytest.mark.django_db


@pytest.fixture
def bill(bob):
    charge(bob.account, "40.00", at(2026, 11, 3), "a")
    AlertRecipient.objects.create(
        account=bob.account, kind="sms", address="+8613800138000", confirmed_at=at(2026, 11, 1)
    )
    AlertRecipient.objects.create(account=bob.account, kind="sms", address="+8613800138001")  # not confirmed
    return close(bob.account, NOVEMBER, now=at(2026, 12, 1, 1))  # due 2026-12-16


def test_nothing_is_sent_until_the_due_date_is_near(bill):
    assert send_bill_reminders(now=at(2026, 12, 12, 9)) == 0
    assert not OutboundEmail.objects.exists()


def test_a_due_soon_reminder_goes_once_by_e_mail_and_to_confirmed_numbers(bill):
    for day in (13, 14, 15):
        send_bill_reminders(now=at(2026, 12, day, 9))
    email = OutboundEmail.objects.get()
    assert email.to == "bob@example.com" and bill.number in email.subject and "2026-12-16" in email.subject
    assert "40.00 USD" in email.body and f"/billing/repay/?bill={bill.number}" in email.body
    assert [s.to for s in OutboundSms.objects.all()] == ["+8613800138000"]
    bill.refresh_from_db()
    assert (bill.reminder, bill.status) == (Bill.Reminder.DUE_SOON, Bill.Status.OPEN)


def test_an_unpaid_bill_past_its_due_date_becomes_overdue_and_is_reminded_once(bill):
    send_bill_reminders(now=at(2026, 12, 14, 9))
    for day in (17, 18):
        send_bill_reminders(now=at(2026, 12, day, 9))
    bill.refresh_from_db()
    assert (bill.status, bill.reminder) == (Bill.Status.OVERDUE, Bill.Reminder.OVERDUE)
    subjects = [e.subject for e in OutboundEmail.objects.order_by("pk")]
    assert len(subjects) == 2 and "overdue" in subjects[1]
    assert OutboundSms.objects.count() == 2


def test_a_bill_first_seen_after_its_due_date_gets_only_the_overdue_reminder(bill):
    send_bill_reminders(now=at(2026, 12, 20, 9))
    assert [("overdue" in e.subject) for e in OutboundEmail.objects.all()] == [True]


def test_a_paid_bill_is_not_reminded(bill, bob):
    repay(account_id=bob.account_id, amount=bill.amount_due, source_ref="test:paid")
    send_bill_reminders(now=at(2026, 12, 15, 9))
    send_bill_reminders(now=at(2026, 12, 15, 9) + timedelta(days=5))
    assert not OutboundEmail.objects.exists() and not OutboundSms.objects.exists()
