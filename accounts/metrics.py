"""What accounts reports on /metrics (billing_center.metrics): the outbox, alert SMS, and the
shape of "credits by path" that every money-in path reports its own credits in.

Read from the database at scrape time, one grouped query per table, so the figures are the
same whichever process answers and the number of queries does not grow with the rows.
"""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Min, Q
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .models import OutboundEmail, OutboundSms, OutboxMessage

UNSENT = (OutboxMessage.Status.PENDING, OutboxMessage.Status.SENDING)


def credit_families(path_rows: Iterable[tuple[str, str, int, Decimal | None]]) -> list[Metric]:
    """Credits posted through one money-in path: rows of (path, currency, how many, their sum).

    Each path reports from its own source rows (a credited top-up, a credited ticket), which
    says more than the ledger's kind: an auto top-up is an online top-up in the ledger."""
    count = CounterMetricFamily(
        "billing_credits",
        "Credits posted to balances, by money-in path and billing currency.",
        labels=["path", "currency"],
    )
    amount = CounterMetricFamily(
        "billing_credited_amount",
        "Sum of the credits posted, in units of the billing currency, by money-in path.",
        labels=["path", "currency"],
    )
    for path, currency, n, total in path_rows:
        count.add_metric([path, currency], n)
        # The exact Decimal sum: Prometheus's text format turns it into a float64 sample when the
        # page is written, a figure to watch, never money that is moved or compared.
        amount.add_metric([path, currency], total or Decimal(0))
    return [count, amount]


def collect(*, now: datetime) -> list[Metric]:
    messages = GaugeMetricFamily(
        "billing_outbox_messages", "E-mails and SMS in the outbox, by status.", labels=["channel", "status"]
    )
    oldest = GaugeMetricFamily(
        "billing_outbox_oldest_unsent_seconds",
        "Age of the oldest e-mail or SMS not sent yet (pending or being sent); 0 when none is waiting.",
        labels=["channel"],
    )
    alerts = GaugeMetricFamily(
        "billing_alert_sms", "Low-balance alert SMS, by status (sent, failed, pending, sending).", labels=["status"]
    )
    email = _by_status(OutboundEmail.objects)
    sms = _by_status(OutboundSms.objects, alerts=Count("id", filter=Q(alert__isnull=False)))
    for channel, by_status in (("email", email), ("sms", sms)):
        for status in OutboxMessage.Status.values:
            messages.add_metric([channel, status], by_status.get(status, {}).get("n", 0))
        waiting = [by_status[status]["first"] for status in UNSENT if status in by_status]
        oldest.add_metric([channel], max(0.0, (now - min(waiting)).total_seconds()) if waiting else 0)
    for status in OutboxMessage.Status.values:
        alerts.add_metric([status], sms.get(status, {}).get("alerts", 0))
    return [messages, oldest, alerts]


def _by_status(queryset, **extra) -> dict[str, dict]:
    """One query: per status, how many rows and the oldest one's time (and any `extra` counts)."""
    rows = queryset.order_by().values("status").annotate(n=Count("id"), first=Min("created_at"), **extra)
    return {row["status"]: row for row in rows}
