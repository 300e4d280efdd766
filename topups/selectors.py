"""Top-up reads, always scoped to the owning account: another account's top-up is a 404."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import F, Value
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from accounts.models import Account
from accounts.selectors import within_days
from tickets.models import TransferTicket

from .models import TopUp


def topups_for_account(account: Account):
    return TopUp.objects.filter(account=account).order_by("-created_at", "-id")


@dataclass(frozen=True)
class TopUpRecord:
    """One line of Top-up records: an online top-up or a bank-transfer ticket."""

    created_at: datetime
    reference: str
    url: str
    method: str
    amount: Money
    credited: Money | None
    status: str  # the badge's css key
    status_label: str
    exchange_rate: Decimal | None


# The records page filters by the online statuses; a ticket maps onto them like this.
TICKET_STATUSES_FOR = {
    TopUp.Status.PENDING: list(TransferTicket.OPEN_STATUSES),
    TopUp.Status.CREDITED: [TransferTicket.Status.CREDITED],
    TopUp.Status.FAILED: [TransferTicket.Status.REJECTED],
}


def record_keys(account: Account, filters: dict):
    """(time, id, kind) of the account's records, newest first, filtered: one UNION query that
    a Paginator can count and slice, so a page loads only its own rows."""
    method, status = filters.get("method"), filters.get("status")
    first, last = filters.get("date_from"), filters.get("date_to")
    online = TopUp.objects.filter(account=account)
    if status:
        online = online.filter(status=status)
    online = within_days(online, first, last).annotate(at=F("created_at"), kind=Value("online"))
    tickets = TransferTicket.objects.filter(account=account)
    if status:
        tickets = tickets.filter(status__in=TICKET_STATUSES_FOR.get(status, []))
    tickets = within_days(tickets, first, last, field="submitted_at").annotate(
        at=F("submitted_at"), kind=Value("bank_transfer")
    )
    parts = [
        qs.order_by().values_list("at", "pk", "kind")
        for name, qs in (("online", online), ("bank_transfer", tickets))
        if method in ("", None, name)
    ]
    keys = parts[0] if len(parts) == 1 else parts[0].union(parts[1], all=True)
    return keys.order_by("-at", "-pk")


def load_records(keys) -> list[TopUpRecord]:
    """The records for a page of record_keys, in the same order: two queries."""
    keys = list(keys)
    topups = TopUp.objects.in_bulk([pk for _, pk, kind in keys if kind == "online"])
    tickets = TransferTicket.objects.in_bulk([pk for _, pk, kind in keys if kind == "bank_transfer"])
    records = []
    for _, pk, kind in keys:
        if kind == "online":
            t = topups[pk]
            records.append(
                TopUpRecord(
                    created_at=t.created_at,
                    reference=t.reference,
                    url=reverse("topups:detail", args=[t.public_id]),
                    method=t.method,
                    amount=t.amount,
                    credited=t.credit_amount if t.status == TopUp.Status.CREDITED else None,
                    status=t.status,
                    status_label=t.get_status_display(),
                    exchange_rate=t.exchange_rate if t.is_converted else None,
                )
            )
        else:
            ticket = tickets[pk]
            records.append(
                TopUpRecord(
                    created_at=ticket.submitted_at,
                    reference=ticket.number,
                    url=reverse("tickets:detail", args=[ticket.number]),
                    method="Bank transfer",
                    amount=ticket.amount,
                    credited=ticket.credit_amount if ticket.status == TransferTicket.Status.CREDITED else None,
                    status=ticket.status,
                    status_label=ticket.get_status_display(),
                    exchange_rate=ticket.exchange_rate,
                )
            )
    return records


def recent_topups(account: Account, *, open_checkouts_only: bool = False, limit: int = 5) -> list[TopUp]:
    """The latest top-ups; with open_checkouts_only, the pending ones still payable at the gateway."""
    topups = topups_for_account(account)
    if open_checkouts_only:
        since = timezone.now() - timedelta(minutes=settings.TOPUP_CHECKOUT_TTL_MINUTES)
        topups = topups.filter(status=TopUp.Status.PENDING, created_at__gte=since)
    return list(topups[:limit])


def get_topup_for_account(account: Account, public_id) -> TopUp:
    return get_object_or_404(topups_for_account(account).select_related("ledger_entry"), public_id=public_id)


def get_credited_topup_for_account(account: Account, public_id) -> TopUp:
    """Receipts exist only for money that arrived."""
    topup = get_topup_for_account(account, public_id)
    if topup.status != TopUp.Status.CREDITED:
        raise Http404("Only credited top-ups have a receipt.")
    return topup
