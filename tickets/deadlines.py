"""The three-working-day deadline: every open ticket carries the due time computed at
submission (tickets.working_days); beat flags the ones due soon and overdue, once per
ticket and state, and e-mails finance."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from accounts.language import reader_zone
from accounts.models import User
from accounts.notifications import queue_templated_email, recipient_language
from bills.cycle import finance_zone
from money.formatting import format_money

from .models import TicketEvent, TransferTicket


def flag_ticket_deadlines(*, now: datetime | None = None) -> dict[str, int]:
    """Flag open tickets that are due soon or overdue, once per ticket and state.

    Tickets waiting on the customer (more information needed) are not finance's delay and
    are not flagged. Running this twice changes nothing: the flag is set by a conditional
    update and the event and e-mails are unique per ticket and state.
    """
    now = now or timezone.now()
    waiting_on_finance = TransferTicket.WAITING_ON_FINANCE
    counts = {"due_soon": 0, "overdue": 0}
    overdue = TransferTicket.objects.filter(status__in=waiting_on_finance, due_at__lt=now).exclude(
        deadline_flag=TransferTicket.Deadline.OVERDUE
    )
    soon = TransferTicket.objects.filter(
        status__in=waiting_on_finance,
        due_at__gte=now,
        due_at__lt=now + timedelta(hours=settings.TICKET_DUE_SOON_HOURS),
        deadline_flag=TransferTicket.Deadline.ON_TIME,
    )
    for state, queryset in (("overdue", overdue), ("due_soon", soon)):
        for ticket_id in list(queryset.values_list("pk", flat=True)[:1000]):
            if _flag(ticket_id, state, now):
                counts[state] += 1
    return counts


def _flag(ticket_id: int, state: str, now: datetime) -> bool:
    with transaction.atomic():
        ticket = TransferTicket.objects.select_for_update().select_related("account").get(pk=ticket_id)
        if (
            not ticket.is_open
            or ticket.deadline_flag == state
            or (state == "due_soon" and ticket.deadline_flag == TransferTicket.Deadline.OVERDUE)
        ):
            return False
        ticket.deadline_flag = state
        ticket.save(update_fields=["deadline_flag"])
        _, created = TicketEvent.objects.get_or_create(
            ticket=ticket, kind=state, defaults={"public": False, "created_at": now}
        )
        if created:
            _email_finance(ticket, state)
        return True


def finance_recipients() -> list:
    """Who hears of a ticket's deadline: finance's own addresses (FINANCE_NOTIFY_EMAILS), else the finance group's
    active users with an address, as users, so each reads in their language and time zone."""
    if settings.FINANCE_NOTIFY_EMAILS:
        return list(settings.FINANCE_NOTIFY_EMAILS)
    group = Group.objects.filter(name=settings.FINANCE_GROUP).first()
    if group is None:
        return []
    return list(group.user_set.filter(is_active=True).exclude(email="").order_by("email", "pk"))


def _email_finance(ticket: TransferTicket, state: str) -> None:
    url = settings.SITE_URL + reverse("admin:tickets_transferticket_change", args=[ticket.pk])
    for recipient in finance_recipients():
        # A clerk reads in their language and zone (finance's, unless they chose one); finance's own addresses, with
        # none of their own, in the site's language and finance's zone, which deadlines are counted in. Addresses had
        # been all: a Chinese-reading clerk had read "Due: … 15:59 UTC", in English (found by a helper).
        clerk = isinstance(recipient, User)
        address, zone = (recipient.email, reader_zone(recipient)) if clerk else (recipient, finance_zone())
        with recipient_language(recipient), timezone.override(zone):
            label = gettext("is overdue") if state == TransferTicket.Deadline.OVERDUE else gettext("is due soon")
            values = {"number": ticket.number, "label": label, "amount": format_money(ticket.amount)}
            queue_templated_email(
                dedupe_key=f"ticket:{ticket.public_id}:{state}:{address}",
                to=address,
                subject=gettext("%(number)s %(label)s (%(amount)s, %(account)s)")
                % {**values, "account": ticket.account},
                template="tickets/email_finance_deadline.txt",
                context={"ticket": ticket, "url": url, "label": label},
            )
