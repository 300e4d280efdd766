"""Reads shared by several views, scoped to one account (or to finance's permission), and
the finance queue's slices that the queue's filters and the admin home both count."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Account

from .models import Certificate, Invoice, ReceivingAccount, StatementLine, TransferTicket
from .statements.parsed import reference_key, reference_key_of

FINANCE_VIEW_PERMISSION = "tickets.view_transferticket"


def current_receiving_accounts(*, currency: str | None = None) -> list[ReceivingAccount]:
    """Only the current accounts; those in `currency` first."""
    accounts = list(ReceivingAccount.objects.filter(retired_at__isnull=True).order_by("currency", "region"))
    if currency:
        accounts.sort(key=lambda account: account.currency != currency)
    return accounts


def receiving_accounts_for(account: Account, *, now=None) -> QuerySet[ReceivingAccount]:
    """What a customer may say they paid to: a current account, one retired within the window
    finance set on it, or one printed on their invoices."""
    now = now or timezone.now()
    return ReceivingAccount.objects.filter(
        Q(retired_at__isnull=True) | Q(tickets_until__gte=now) | Q(invoices__account=account)
    ).distinct()


def invoices_for_account(account: Account) -> QuerySet[Invoice]:
    return account.invoices.select_related("receiving_account").order_by("-issue_date", "-id")


def get_invoice_for_account(account: Account, number: str) -> Invoice:
    return get_object_or_404(invoices_for_account(account), number=number)


def tickets_for_account(account: Account) -> QuerySet[TransferTicket]:
    return account.transfer_tickets.select_related("invoice").order_by("-submitted_at", "-id")


def get_ticket_for_account(account: Account, number: str) -> TransferTicket:
    return get_object_or_404(
        account.transfer_tickets.select_related("invoice", "bill", "receiving_account", "submitted_by"), number=number
    )


def get_certificate_for_user(user, *, number: str, certificate_id: int) -> Certificate:
    """A certificate its uploader's account or finance may read; anyone else gets a 404."""
    certificates = Certificate.objects.select_related("ticket").filter(pk=certificate_id, ticket__number=number)
    # Finance reads certificates only in a session verified with its one-time code.
    if not (user.is_staff and user.is_verified() and user.has_perm(FINANCE_VIEW_PERMISSION)):
        if user.account_id is None:
            certificates = certificates.none()
        certificates = certificates.filter(ticket__account_id=user.account_id)
    return get_object_or_404(certificates)


def public_events(ticket: TransferTicket):
    return ticket.events.filter(public=True).select_related("actor").prefetch_related("certificates")


# --- The finance queue: the same rows behind a filter of the queue and a count on the admin home.


def end_of_finance_day(now: datetime) -> datetime:
    zone = ZoneInfo(settings.FINANCE_TIME_ZONE)
    return datetime.combine(now.astimezone(zone).date(), time(23, 59, 59), tzinfo=zone)


def open_tickets(queryset: QuerySet[TransferTicket] | None = None) -> QuerySet[TransferTicket]:
    queryset = TransferTicket.objects.all() if queryset is None else queryset
    return queryset.filter(status__in=TransferTicket.OPEN_STATUSES)


def overdue_tickets(*, now: datetime, queryset: QuerySet[TransferTicket] | None = None) -> QuerySet[TransferTicket]:
    return open_tickets(queryset).filter(due_at__lt=now)


def tickets_due_today(*, now: datetime, queryset: QuerySet[TransferTicket] | None = None) -> QuerySet[TransferTicket]:
    """Not yet overdue, but due before the end of finance's working day."""
    return open_tickets(queryset).filter(due_at__gte=now, due_at__lte=end_of_finance_day(now))


def tickets_waiting_on_finance() -> QuerySet[TransferTicket]:
    """Every ticket finance has yet to decide, whenever it is due (not those waiting on the customer's reply), but
    those proposed for a second approval: counted apart, they had been counted twice on admin's home."""
    return TransferTicket.objects.filter(status__in=TransferTicket.WAITING_ON_FINANCE, proposed_by__isnull=True)


def tickets_awaiting_second_approval(queryset: QuerySet[TransferTicket] | None = None) -> QuerySet[TransferTicket]:
    """A maker proposed a credit; a second, different finance user has yet to approve it."""
    return open_tickets(queryset).filter(proposed_by__isnull=False)


def unmatched_statement_lines() -> QuerySet[StatementLine]:
    """Bank statement credits no reference named an account for: finance assigns them."""
    return StatementLine.objects.filter(state=StatementLine.State.UNMATCHED)


def statement_lines_to_confirm() -> QuerySet[StatementLine]:
    """Matched statement credits waiting for finance's one click (a proposed one waits for a second user)."""
    return StatementLine.objects.filter(state=StatementLine.State.MATCHED, proposed_by__isnull=True)


def statement_lines_awaiting_second_approval() -> QuerySet[StatementLine]:
    """A maker proposed crediting the line; a second, different finance user has yet to confirm it."""
    return StatementLine.objects.filter(state=StatementLine.State.MATCHED, proposed_by__isnull=False)


def other_currency_statement_lines() -> QuerySet[StatementLine]:
    """Credits in a currency the receiving account does not hold: finance returns them, or sets them aside."""
    return StatementLine.objects.filter(state=StatementLine.State.OTHER_CURRENCY)


def statement_lines_for_transfer(ticket: TransferTicket) -> QuerySet[StatementLine]:
    """Our statement's lines for the transfer a ticket's confirmed figures name: the reference however
    spelled (its letters and digits) and the amount received, at the receiving account the ticket names. A
    ticket naming a retired account (money sent before the customer saw the new one) may have reached one of
    our current accounts instead: a line there with the same reference and amount is taken for the same
    transfer, the named account's first."""
    lines = StatementLine.objects.alias(key=reference_key_of("bank_reference")).filter(
        key=reference_key(ticket.confirmed_bank_reference),
        amount=ticket.received_amount.amount,
        currency=str(ticket.received_amount.currency),
    )
    if not ticket.names_retired_account:
        return lines.filter(receiving_account_id=ticket.receiving_account_id)
    named_first = Case(When(receiving_account_id=ticket.receiving_account_id, then=Value(0)), default=Value(1))
    return lines.order_by(named_first, "pk")


def listed_before() -> Exists:
    """True for a statement line whose credit an earlier line of our statements carries (the bank listed the
    same transfer again, linked to that credit): its money is counted, and shown to the customer, once."""
    return Exists(StatementLine.objects.filter(ledger_entry=OuterRef("ledger_entry"), pk__lt=OuterRef("pk")))
