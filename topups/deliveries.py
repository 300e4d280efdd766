"""Webhook deliveries: each verified delivery stored once per event id, before anything
else, then applied once; an unverified one kept for investigation (like dj-stripe's
WebhookEventTrigger, and stricter: a changed body under a known id is flagged)."""

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .auto_topup import save_card
from .disputes import apply_dispute_notice
from .gateways.base import CardNotice, DisputeNotice, Notice, RefundNotice, RefundsListed
from .models import TopUp, WebhookDelivery
from .notices import apply_payment_notice
from .refunds import apply_refund_notice

logger = logging.getLogger(__name__)
Verdict = WebhookDelivery.Verdict


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
    return outcome.verdict, outcome.topup


def receive_payment_notice(*, gateway_name: str, notice: Notice, body: bytes, signature: str) -> WebhookDelivery:
    """Store a verified delivery once per event id and apply it once.

    The delivery row is committed before processing, so a processing failure rolls back
    the credit but keeps the delivery with its error, and the gateway's retry picks it up.
    """
    text = storable_text(body)
    delivery, created = WebhookDelivery.objects.get_or_create(
        gateway=gateway_name,
        event_id=notice.event_id,
        defaults={"event_type": notice.event_type, "body": text, "signature": signature[:1000]},
    )
    if not created:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            delivery_count=F("delivery_count") + 1, last_received_at=timezone.now()
        )
        if delivery.body != text:
            # A provider never changes an event; a different body under a known id is
            # someone holding our secret, or a bug. Apply nothing new and say so.
            logger.error("Event %s %s redelivered with a different body", gateway_name, notice.event_id)
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                error="Redelivered with a different body; the new body was not applied."
            )
            return delivery
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
            if delivery.verdict not in (Verdict.RECEIVED, Verdict.ERROR):
                return delivery  # a redelivery of an event already applied
            delivery.verdict, delivery.topup = apply_notice(gateway_name=gateway_name, notice=notice)
            delivery.error = ""
            delivery.processed_at = timezone.now()
            delivery.save(update_fields=["verdict", "topup", "error", "processed_at"])
            return delivery
    except Exception as exc:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(verdict=Verdict.ERROR, error=repr(exc)[:2000])
        raise
