"""What tickets reports on /metrics (billing_center.metrics): transfer tickets by status, the open
ones past their three-working-day deadline, those awaiting a second approval, and their credits.

One grouped query at scrape time, however many tickets there are.
"""

from collections import Counter
from datetime import datetime

from django.db.models import Count, Q, Sum
from prometheus_client.core import GaugeMetricFamily, Metric

from accounts.metrics import credit_families

from .models import TransferTicket

BANK_TRANSFER = "bank_transfer"


def collect(*, now: datetime) -> list[Metric]:
    is_open = Q(status__in=TransferTicket.OPEN_STATUSES)
    rows = list(
        TransferTicket.objects.order_by()
        .values("status", "credit_amount_currency")
        .annotate(
            n=Count("id"),
            total=Sum("credit_amount"),
            overdue=Count("id", filter=is_open & Q(due_at__lt=now)),
            awaiting=Count("id", filter=is_open & Q(proposed_by__isnull=False)),
        )
    )
    by_status, overdue = Counter(), Counter()
    for row in rows:
        by_status[row["status"]] += row["n"]
        overdue[row["status"]] += row["overdue"]
    tickets = GaugeMetricFamily("billing_tickets", "Transfer tickets by status.", labels=["status"])
    late = GaugeMetricFamily(
        "billing_tickets_overdue",
        "Open transfer tickets past their deadline, by status (info_requested waits on the customer).",
        labels=["status"],
    )
    for status in TransferTicket.Status.values:
        tickets.add_metric([status], by_status[status])
    for status in TransferTicket.OPEN_STATUSES:
        late.add_metric([status], overdue[status])
    awaiting = GaugeMetricFamily(
        "billing_tickets_awaiting_second_approval",
        "Open tickets whose credit a finance user proposed and a second one has not approved yet.",
        value=sum(row["awaiting"] for row in rows),
    )
    credited = [
        (BANK_TRANSFER, row["credit_amount_currency"], row["n"], row["total"])
        for row in rows
        if row["status"] == TransferTicket.Status.CREDITED
    ]
    return [tickets, late, awaiting, *credit_families(credited)]
