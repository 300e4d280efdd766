"""What topups reports on /metrics (billing_center.metrics): online and auto top-ups by status,
their credits, those flagged for finance, and the gateways' webhook deliveries by verdict.

Two grouped queries at scrape time, however many rows there are.
"""

from collections import Counter
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Q, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from accounts.metrics import credit_families

from .models import TopUp, WebhookDelivery


def method_of(is_automatic: bool) -> str:
    return "auto_topup" if is_automatic else "online_topup"


def collect(*, now: datetime) -> list[Metric]:
    return [*_topups(), *_deliveries()]


def _topups() -> list[Metric]:
    rows = list(
        TopUp.objects.order_by()
        .values("status", "is_automatic", "credit_amount_currency")
        .annotate(n=Count("id"), total=Sum("credit_amount"), flagged=Count("id", filter=Q(needs_review=True)))
    )
    topups = GaugeMetricFamily(
        "billing_topups", "Online top-ups by status and method (online_topup, auto_topup).", labels=["method", "status"]
    )
    counts = Counter()
    for row in rows:
        counts[method_of(row["is_automatic"]), row["status"]] += row["n"]
    for method in ("online_topup", "auto_topup"):
        for status in TopUp.Status.values:
            topups.add_metric([method, status], counts[method, status])
    flagged = GaugeMetricFamily(
        "billing_topups_needing_review",
        "Top-ups whose gateway notification disagreed with them, left for finance to look at.",
        value=sum(row["flagged"] for row in rows),
    )
    credited = [
        (method_of(row["is_automatic"]), row["credit_amount_currency"], row["n"], row["total"])
        for row in rows
        if row["status"] == TopUp.Status.CREDITED
    ]
    return [topups, flagged, *credit_families(credited)]


def _deliveries() -> list[Metric]:
    rows = (
        WebhookDelivery.objects.order_by()
        .values("gateway", "verdict")
        .annotate(n=Count("id"), received=Sum("delivery_count"))
    )
    deliveries = GaugeMetricFamily(
        "billing_webhook_deliveries",
        "Gateway notifications kept, one per event, by the verdict we reached (error: retried by our minute sweep).",
        labels=["gateway", "verdict"],
    )
    received = CounterMetricFamily(
        "billing_webhook_received",
        "Gateway notifications received, redeliveries of an event included.",
        labels=["gateway"],
    )
    by_key = {(row["gateway"], row["verdict"]): row for row in rows}
    gateways = sorted({gateway for gateway, _ in by_key} | {settings.PAYMENT_GATEWAY})
    for gateway in gateways:
        for verdict in WebhookDelivery.Verdict.values:
            deliveries.add_metric([gateway, verdict], by_key.get((gateway, verdict), {}).get("n", 0))
        received.add_metric([gateway], sum(row["received"] for (g, _), row in by_key.items() if g == gateway))
    return [deliveries, received]
