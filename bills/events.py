"""What a bill's webhook events (bill.issued, bill.overdue) say about it."""

from accounts.outbound_webhooks.events import money


def bill_data(bill) -> dict:
    return {
        "bill_id": bill.pk,
        "number": bill.number,
        "period_start": bill.period_start.isoformat(),
        "period_end": bill.period_end.isoformat(),
        "amount_due": money(bill.amount_due),
        "amount_paid": money(bill.amount_paid),
        "due_on": bill.due_on.isoformat(),
        "status": str(bill.status),
    }
