"""The webhook event of a transfer ticket (ticket.status_changed): what the customer's systems
hear when a ticket is submitted, taken into review, asked about, credited or rejected."""

from accounts.outbound_webhooks.events import emit, money

from .models import TicketEvent

STATUS_EVENTS = {
    TicketEvent.Kind.SUBMITTED,
    TicketEvent.Kind.UNDER_REVIEW,
    TicketEvent.Kind.INFO_REQUESTED,
    TicketEvent.Kind.CREDITED,
    TicketEvent.Kind.REJECTED,
}


def status_changed(ticket, kind: str, now) -> None:
    if kind not in STATUS_EVENTS:
        return
    data = {"ticket": ticket.number, "status": str(ticket.status), "amount": money(ticket.amount)}
    if ticket.credit_amount is not None:
        data["credited"] = money(ticket.credit_amount)
    emit("ticket.status_changed", account_id=ticket.account_id, data=data, now=now)
