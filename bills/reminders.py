"""Reminding customers of their bills: once a few days before a bill is due, and once when it
becomes overdue (which also marks it overdue).

A beat task runs send_bill_reminders every hour. Each bill is locked while it is looked at and
remembers the last reminder sent (Bill.reminder), and every message has a dedupe key
("bill:<id>:<state>:…") in the outbox, so a rerun, a retry or two workers send each reminder
once. E-mails go to the account's users, text messages to its confirmed mobile numbers; both
are written in the same transaction and sent after commit (accounts.notifications).
"""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, AlertRecipient
from accounts.notifications import queue_email, queue_sms, recipient_language
from accounts.outbound_webhooks.events import emit
from money.formatting import format_money

from .cycle import finance_today
from .events import bill_data
from .models import Bill

Reminder = Bill.Reminder


def send_bill_reminders(*, now: datetime | None = None) -> int:
    """Send what is due now; returns how many bills were reminded."""
    now = now or timezone.now()
    today = finance_today(now)
    soon = today + timedelta(days=settings.BILL_REMINDER_DAYS_BEFORE)
    due = (
        Bill.objects.filter(status__in=Bill.OUTSTANDING)
        .filter((Q(due_on__lt=today) & ~Q(reminder=Reminder.OVERDUE)) | Q(due_on__lte=soon, reminder=Reminder.NONE))
        .order_by("due_on", "pk")
        .values_list("pk", flat=True)
    )
    return sum(remind_bill(bill_id=pk, today=today) for pk in list(due))


def reminder_due(bill: Bill, today: date) -> str:
    """The reminder this bill should have had by now ("" for none)."""
    if not bill.is_outstanding:
        return Reminder.NONE
    if bill.due_on < today:
        return Reminder.OVERDUE
    if bill.due_on <= today + timedelta(days=settings.BILL_REMINDER_DAYS_BEFORE):
        return Reminder.DUE_SOON
    return Reminder.NONE


@transaction.atomic
def remind_bill(*, bill_id: int, today: date) -> bool:
    """Send the bill's reminder if it has not had it; mark an overdue bill overdue."""
    # The account row first, then the bill, as settlement takes them: a reminder holding the
    # bill while a repayment held the account and waited for that bill was a deadlock.
    account_id = Bill.objects.values_list("account_id", flat=True).get(pk=bill_id)
    Account.objects.select_for_update().values_list("pk", flat=True).get(pk=account_id)
    bill = Bill.objects.select_for_update(of=("self",)).select_related("account").get(pk=bill_id)
    state = reminder_due(bill, today)
    already = {Reminder.NONE: 0, Reminder.DUE_SOON: 1, Reminder.OVERDUE: 2}
    if state == Reminder.NONE or already[bill.reminder] >= already[state]:
        return False
    if state == Reminder.OVERDUE:
        bill.status = Bill.Status.OVERDUE
        emit("bill.overdue", account_id=bill.account_id, data=bill_data(bill))
    bill.reminder = state
    bill.save(update_fields=["status", "reminder"])
    account = bill.account
    for user in account.users.filter(is_active=True).exclude(email="").order_by("pk"):
        with recipient_language(user):
            subject, text = _words(bill, state)
        queue_email(
            dedupe_key=f"bill:{bill.pk}:{state}:user:{user.pk}",
            to=user.email,
            subject=subject,
            body=text,
            account=account,
        )
    numbers = account.alert_recipients.filter(kind=AlertRecipient.Kind.SMS, confirmed_at__isnull=False)
    for number in numbers.order_by("pk"):
        with recipient_language(number):
            _subject, text = _words(bill, state)
        queue_sms(dedupe_key=f"bill:{bill.pk}:{state}:sms:{number.pk}", to=number.address, text=text, account=account)
    return True


def _words(bill: Bill, state: str) -> tuple[str, str]:
    """The subject and the text (e-mail body and SMS), in the active language."""
    names = {
        "number": bill.number,
        "name": bill.account.name,
        "left": format_money(bill.remaining),
        "due_on": f"{bill.due_on:%Y-%m-%d}",
        "url": f"{settings.SITE_URL}{reverse('topups:repay')}?bill={bill.number}",
    }
    if state == Reminder.OVERDUE:
        subject = _("Bill %(number)s is overdue: %(left)s to pay") % names
        text = _(
            "Billing Center: bill %(number)s of %(name)s was due on %(due_on)s; %(left)s is unpaid. Repay: %(url)s"
        )
    else:
        subject = _("Bill %(number)s is due on %(due_on)s: %(left)s to pay") % names
        text = _("Billing Center: bill %(number)s of %(name)s is due on %(due_on)s; %(left)s to pay. Repay: %(url)s")
    return subject, text % names
