"""Webhook deliveries: each verified delivery stored once per event id and committed before
anything else (the crash-safe log), then applied once by a worker; an unverified one kept for
investigation (like dj-stripe's WebhookEventTrigger, and stricter: a changed body under a known
id is flagged) for REJECTED_DELIVERY_KEEP_DAYS.

Intake (`store_delivery`) only stores and wakes a worker after commit (once per burst:
topups.wake), so the gateway hears back at once, as Stripe asks. Workers apply stored
deliveries in batches (topups.batches); what a batch cannot take — refunds, disputes, cards,
repayments that settle bills, a batch that failed — is applied here one delivery at a time
(`apply_delivery`).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from .auto_topup import auto_topup_settled, save_card
from .disputes import apply_dispute_notice
from .gateways import get_gateway
from .gateways.base import CardNotice, DisputeNotice, Notice, RefundNotice, RefundsListed
from .models import TopUp, WebhookDelivery
from .notices import apply_payment_notice
from .refunds import apply_refund_notice
from .wake import wake_after_commit

logger = logging.getLogger(__name__)
Verdict = WebhookDelivery.Verdict
# Waiting to be applied: new, or failed and to be tried again.
UNFINISHED = (Verdict.RECEIVED, Verdict.ERROR)


def storable_text(body: bytes) -> str:
    """A delivery's body as text PostgreSQL can store: it refuses NUL characters in text."""
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def record_rejected_delivery(*, gateway_name: str, body: bytes, signature: str, error: str) -> WebhookDelivery:
    """Keep an unverified delivery for investigation; its content is not trusted, so only its start is kept."""
    return WebhookDelivery.objects.create(
        gateway=gateway_name,
        body=storable_text(body[:2000]),
        signature=signature[:1000].replace("\x00", "\ufffd"),
        verdict=Verdict.REJECTED,
        error=error[:2000],
        processed_at=timezone.now(),
    )


def store_delivery(*, gateway_name: str, notice: Notice, body: bytes, signature: str) -> str:
    """Store a verified delivery once per event id, wake a worker after commit, and answer
    with its verdict: "received" until a worker has applied it.

    One statement stores a new event or counts a redelivery on the stored row (INSERT … ON
    CONFLICT DO UPDATE … RETURNING, on PostgreSQL and SQLite alike): intake is what the gateway
    waits for. A redelivery of one that failed before is put back in line, so the gateway's
    retry is also ours.
    """
    text = storable_text(body)
    pk, verdict, stored_body, count = _insert_or_count(gateway_name, notice, text, signature[:1000])
    if count > 1 and stored_body != text:
        # A provider never changes an event; a different body under a known id is
        # someone holding our secret, or a bug. Apply nothing new and say so.
        logger.error("Event %s %s redelivered with a different body", gateway_name, notice.event_id)
        WebhookDelivery.objects.filter(pk=pk).update(
            body_changed=True, error="Redelivered with a different body; the new body was not applied."
        )
        return verdict
    if verdict == Verdict.ERROR:
        WebhookDelivery.objects.filter(pk=pk, verdict=Verdict.ERROR).update(verdict=Verdict.RECEIVED)
        verdict = Verdict.RECEIVED
    if verdict == Verdict.RECEIVED:
        wake_after_commit(delivery_id=pk, redelivered=count > 1)
    return verdict


def _insert_or_count(gateway_name: str, notice: Notice, text: str, signature: str) -> tuple:
    """(id, verdict, stored body, delivery count) of the event's row, new (count 1) or counted again."""
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (gateway, event_id, event_type, body, signature, verdict, error, delivery_count, "
            "received_at, last_received_at) VALUES (%s, %s, %s, %s, %s, %s, '', 1, %s, %s) "
            "ON CONFLICT (gateway, event_id) WHERE event_id IS NOT NULL DO UPDATE SET "
            f"delivery_count = {table}.delivery_count + 1, last_received_at = excluded.last_received_at "
            "RETURNING id, verdict, body, delivery_count",
            [gateway_name, notice.event_id, notice.event_type, text, signature, Verdict.RECEIVED, now, now],
        )
        return cursor.fetchone()


def notice_of(delivery: WebhookDelivery) -> Notice:
    """The notice a stored delivery carries, read back from its body (verified at intake)."""
    return get_gateway(delivery.gateway).read_stored(delivery.body.encode())


def apply_notice(*, gateway_name: str, notice: Notice) -> tuple[str, TopUp | None]:
    """Route a verified notice to the rule it is about: payment, refund or dispute."""
    if isinstance(notice, RefundsListed):
        verdicts = [apply_refund_notice(gateway_name=gateway_name, notice=n) for n in notice.refunds]
        for verdict in (Verdict.REFUNDED, Verdict.FLAGGED, Verdict.UPDATED, Verdict.ALREADY_APPLIED):
            if verdict in verdicts:
                return verdict, None
        return Verdict.IGNORED, None
    if isinstance(notice, RefundNotice):
        return apply_refund_notice(gateway_name=gateway_name, notice=notice), None
    if isinstance(notice, CardNotice):
        return save_card(gateway_name=gateway_name, notice=notice), None
    if isinstance(notice, DisputeNotice):
        return apply_dispute_notice(gateway_name=gateway_name, notice=notice), None
    outcome = apply_payment_notice(gateway_name=gateway_name, notice=notice)
    if outcome.topup is not None:
        auto_topup_settled(outcome.topup, outcome.verdict, now=timezone.now())
    return outcome.verdict, outcome.topup


def apply_delivery(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """Apply one stored delivery in its own transaction, once; None when it is not waiting or
    another worker holds it.

    A failure rolls the work back and keeps the delivery with verdict ERROR and its error,
    to be tried again (a redelivery, or the sweep); the caller goes on with the next one.
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            delivery = (
                WebhookDelivery.objects.select_for_update(skip_locked=True)
                .filter(pk=delivery_id, verdict=Verdict.RECEIVED)
                .first()
            )
            if delivery is None:
                return None
            delivery.verdict, delivery.topup = apply_notice(gateway_name=delivery.gateway, notice=notice_of(delivery))
            delivery.error, delivery.processed_at = "", now
            delivery.save(update_fields=["verdict", "topup", "error", "processed_at"])
            return delivery
    except Exception as exc:  # any failure of this one event: kept with its error, the others go on
        logger.exception("Delivery %s could not be applied", delivery_id)
        WebhookDelivery.objects.filter(pk=delivery_id, verdict=Verdict.RECEIVED).update(
            verdict=Verdict.ERROR, error=repr(exc)[:2000], processed_at=now
        )
        return None


def retry_stale_deliveries(*, older_than_seconds: int = 60, now: datetime | None = None) -> int:
    """The sweep: put failed deliveries back in line, and say how many wait longer than they
    should (a lost broker message, a worker that died): 0 means no task needs publishing."""
    now = now or timezone.now()
    before = now - timedelta(seconds=older_than_seconds)
    WebhookDelivery.objects.filter(verdict=Verdict.ERROR, processed_at__lt=before).update(verdict=Verdict.RECEIVED)
    return WebhookDelivery.objects.filter(
        Q(processed_at__lt=before) | Q(processed_at__isnull=True, received_at__lt=before),
        verdict=Verdict.RECEIVED,
    ).count()


PURGE_CHUNK = 5_000


def purge_rejected_deliveries(*, now: datetime | None = None) -> int:
    """Delete the deliveries that failed verification more than REJECTED_DELIVERY_KEEP_DAYS ago, a chunk per
    statement (no long lock on the table the webhook writes to); how many. Anyone can post an unsigned body,
    each kept a few KB: without this they had grown without end. Verified deliveries are never purged: each
    is the record of money moved."""
    before = (now or timezone.now()) - timedelta(days=settings.REJECTED_DELIVERY_KEEP_DAYS)
    old = WebhookDelivery.objects.filter(verdict=Verdict.REJECTED, received_at__lt=before)
    purged = 0
    while chunk := list(old.order_by("pk").values_list("pk", flat=True)[:PURGE_CHUNK]):
        purged += WebhookDelivery.objects.filter(pk__in=chunk, verdict=Verdict.REJECTED).delete()[0]
    return purged
