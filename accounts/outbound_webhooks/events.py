"""The events an endpoint can hear about, and emitting one: in the caller's transaction, one
delivery row per endpoint that wants it, handed to a worker after commit.

Every payload has the same envelope, versioned so receivers can rely on it:
    {"id": "evt_…", "type": "topup.credited", "version": 1, "timestamp": "…Z",
     "account_id": 42, "data": {…}}
Money in `data` is a decimal string with its currency: {"amount": "100.00", "currency": "USD"}.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import EventDelivery, WebhookEndpoint, WebhookEvent, new_event_id

PAYLOAD_VERSION = 1
ENDPOINT_COLUMNS = ("id", "account", "event_types", "enabled")
EVENT_TYPES = {
    "topup.credited": _("Money was credited: an online top-up, a bank transfer or a repayment."),
    "balance.low": _("The balance fell below the alert threshold."),
    "balance.recovered": _("The balance is back at or above the alert threshold."),
    "ticket.status_changed": _("A bank transfer ticket changed status."),
    "charge.created": _("Usage charges were posted (one event per API call)."),
    "bill.issued": _("A monthly bill was issued."),
    "bill.overdue": _("A bill is past its due date."),
    "allocation.created": _("An enterprise master moved funds to or from a member."),
    "refund.created": _("A refund was paid back to the card."),
    "dispute.updated": _("A card payment dispute was opened or decided."),
    "statement_line.matched": _("A bank statement line was matched to the account."),
}


@dataclass(frozen=True)
class NewEvent:
    type: str
    account_id: int | None
    data: dict


def money(value) -> dict:
    """A Money for a payload: the exact decimal as a string, and its currency."""
    return {"amount": f"{value.amount:.2f}", "currency": str(value.currency)}


def listening(event_type: str, account_ids) -> set[int]:
    """The accounts among `account_ids` that some endpoint hears `event_type` for: the account's
    own endpoints, or an operator's, which hears every account. A caller with a large batch
    (a thousand charges, a statement's chunk) builds payloads only for these."""
    account_ids = set(account_ids)
    heard = {account_id for _pk, account_id, wanted, _on in endpoints_for(account_ids) if event_type in wanted}
    return account_ids if None in heard else heard


def endpoints_for(account_ids) -> list[tuple[int, int | None, list, bool]]:
    """(id, account id, event types, enabled) of every endpoint that may hear these accounts: their
    own and the operators'. Plain SQL: it runs with every credit, and building the ORM's query cost
    as much as the credit's own posting."""
    ids = sorted(set(account_ids))
    quote = connection.ops.quote_name
    columns = ", ".join(quote(WebhookEndpoint._meta.get_field(name).column) for name in ENDPOINT_COLUMNS)
    account = quote(WebhookEndpoint._meta.get_field("account").column)
    if connection.vendor == "postgresql":
        among, params = f"{account} = ANY(%s)", [ids]
    else:
        among, params = f"{account} IN ({', '.join(['%s'] * len(ids)) or 'NULL'})", ids
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {quote(WebhookEndpoint._meta.db_table)} WHERE {account} IS NULL OR {among}", params
        )
        rows = cursor.fetchall()
    # Read as text on both databases (Django reads jsonb as text and decodes it itself).
    return [(pk, account_id, _json(wanted), bool(on)) for pk, account_id, wanted, on in rows]


def _json(value):
    return json.loads(value) if isinstance(value, str | bytes) else value


def emit(event_type: str, *, account_id: int | None, data: dict, now: datetime | None = None) -> None:
    emit_many([NewEvent(event_type, account_id, data)], now=now)


def emit_many(events: list[NewEvent], *, now: datetime | None = None) -> None:
    """Record the events and a delivery for every endpoint that wants each (the account's own,
    and the operators'); the endpoints' workers are woken after commit. An endpoint that is off
    keeps its deliveries until it is on again."""
    if not events:
        return
    unknown = {event.type for event in events} - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"Unknown webhook event type(s): {sorted(unknown)}")
    now = now or timezone.now()
    endpoints = endpoints_for(event.account_id for event in events if event.account_id is not None)
    rows, deliveries = [], []
    for event in events:
        row = WebhookEvent(
            event_id=new_event_id(),
            type=event.type,
            account_id=event.account_id,
            created_at=now,
            payload={
                "type": event.type,
                "version": PAYLOAD_VERSION,
                "timestamp": now.isoformat().replace("+00:00", "Z"),
                "account_id": event.account_id,
                "data": event.data,
            },
        )
        row.payload["id"] = row.event_id
        rows.append(row)
        for pk, account_id, wanted, _enabled in endpoints:
            if event.type in wanted and account_id in (None, event.account_id):
                deliveries.append((pk, row))
    if not deliveries:
        return  # nobody listens: nothing is kept
    heard = {id(row) for _pk, row in deliveries}
    WebhookEvent.objects.bulk_create([row for row in rows if id(row) in heard])
    EventDelivery.objects.bulk_create(
        [EventDelivery(endpoint_id=pk, event=row, next_attempt_at=now) for pk, row in deliveries]
    )
    enabled = {pk for pk, _account, _wanted, on in endpoints if on}
    woken = sorted({pk for pk, _row in deliveries if pk in enabled})
    transaction.on_commit(lambda: wake(woken))


def wake(endpoint_ids: list[int], *, countdown: float = 0) -> None:
    """Ask a worker to deliver what these endpoints have waiting, now or after `countdown`
    seconds (the beat's sweep does, if the broker is away)."""
    from accounts.notifications import publish
    from accounts.tasks import deliver_webhooks

    for pk in endpoint_ids:
        publish(deliver_webhooks, pk, countdown=countdown)
