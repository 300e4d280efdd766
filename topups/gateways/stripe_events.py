"""Stripe's event objects read into our notices: refunds, disputes, saved cards and
off-session payments. Plain JSON in the documented shapes of the API version we pin; no SDK
here (stripe_checkout.py is the one module that imports `stripe`)."""

from collections.abc import Mapping
from decimal import Decimal

import moneyed
from djmoney.money import Money

from .base import CardNotice, DisputeNotice, PaymentNotice, RefundNotice

# Stripe's largest amount is 99,999,999 minor units; far beyond it cannot even be shown
# in a mismatch report (Decimal's 28 digits), so such an event is refused as unreadable.
LARGEST_AMOUNT_TOTAL = 10**15


def from_minor_units(value: int, currency: str) -> Money:
    code = currency.upper()
    return Money(Decimal(value) / moneyed.get_currency(code).sub_unit, code)


def id_of(value) -> str:
    """A related object's id: Stripe sends it as a string, or as the object when expanded."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def money_of(minor, currency) -> Money:
    if isinstance(minor, bool) or not isinstance(minor, int) or not 0 < minor <= LARGEST_AMOUNT_TOTAL:
        raise ValueError(f"amount out of range: {minor!r}"[:100])
    if not isinstance(currency, str):
        raise ValueError("currency is not a string")
    return from_minor_units(minor, currency)


# Stripe's refund statuses, in ours; "requires_action" and "canceled" are not money moved.
REFUND_STATUS = {"pending": "pending", "requires_action": "pending", "succeeded": "succeeded"}
# Stripe's inquiries (warning_*) move no money: the issuer asks first, and may charge back later (needs_response,
# the same dispute) or not (warning_closed); "prevented" (stopped before it was filed) and the older
# "charge_refunded" (a refund answered it) take nothing either. A status we do not know is taken as an inquiry:
# flagged for finance, nothing debited on a guess.
DISPUTE_STATUS = {
    "warning_needs_response": "inquiry",
    "warning_under_review": "inquiry",
    "warning_closed": "closed",
    "prevented": "closed",
    "charge_refunded": "closed",
    "needs_response": "open",
    "under_review": "open",
    "won": "won",
    "lost": "lost",
}


def refund_notice(refund: Mapping, *, event_id: str, event_type: str) -> RefundNotice:
    metadata = refund.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValueError("metadata is not an object")
    return RefundNotice(
        event_id=event_id,
        event_type=event_type,
        refund_id=id_of(refund.get("id")),
        status=REFUND_STATUS.get(refund.get("status"), "failed"),
        amount=money_of(refund.get("amount"), refund.get("currency")),
        payment_intent_id=id_of(refund.get("payment_intent")),
        charge_id=id_of(refund.get("charge")),
        reference=str(metadata.get("refund") or ""),
        detail=str(refund.get("failure_reason") or ""),
    )


def dispute_notice(dispute: Mapping, *, event_id: str, event_type: str) -> DisputeNotice:
    return DisputeNotice(
        event_id=event_id,
        event_type=event_type,
        dispute_id=id_of(dispute.get("id")),
        status=DISPUTE_STATUS.get(dispute.get("status"), "inquiry"),
        amount=money_of(dispute.get("amount"), dispute.get("currency")),
        payment_intent_id=id_of(dispute.get("payment_intent")),
        charge_id=id_of(dispute.get("charge")),
        reason=str(dispute.get("reason") or "")[:100],
    )


def intent_notice(intent: Mapping, *, event_id: str, event_type: str) -> PaymentNotice:
    """An auto top-up's off-session PaymentIntent; a Checkout payment's own intent is ignored
    here (its session's events credit it), so one payment is never read twice."""
    metadata = intent.get("metadata") or {}
    if not isinstance(metadata, dict) or metadata.get("auto") != "1":
        return PaymentNotice(event_id=event_id, event_type=event_type, reference="", status="ignored")
    status = {"succeeded": "paid", "processing": "pending"}.get(intent.get("status"), "failed")
    error = intent.get("last_payment_error") or {}
    return PaymentNotice(
        event_id=event_id,
        event_type=event_type,
        reference=str(metadata.get("topup") or ""),
        status=status,
        amount=money_of(intent.get("amount"), intent.get("currency")),
        session_id=id_of(intent.get("id")),
        account_ref=str(metadata.get("account") or ""),
        payment_intent_id=id_of(intent.get("id")),
        detail=str(error.get("message") or "") if isinstance(error, dict) else "",
    )


def card_notice(setup_intent: Mapping, *, event_id: str, event_type: str) -> CardNotice:
    metadata = setup_intent.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValueError("metadata is not an object")
    method = setup_intent.get("payment_method")
    card = method.get("card") if isinstance(method, dict) else None
    label = f"{card.get('brand', 'card').title()} •••• {card.get('last4', '')}" if isinstance(card, dict) else "Card"
    return CardNotice(
        event_id=event_id,
        event_type=event_type,
        account_ref=str(metadata.get("account") or ""),
        session_id=str(metadata.get("setup_session") or ""),
        payment_method_id=id_of(method),
        customer_id=id_of(setup_intent.get("customer")),
        label=label[:100],
    )


def charge_refunds(charge: Mapping, *, event_id: str, event_type: str) -> list[RefundNotice]:
    """charge.refunded names its refunds in refunds.data when Stripe includes them."""
    listed = charge.get("refunds")
    refunds = listed.get("data") if isinstance(listed, dict) else None
    if not isinstance(refunds, list):
        return []
    return [
        refund_notice(
            {"charge": charge.get("id"), "payment_intent": charge.get("payment_intent"), **refund},
            event_id=f"{event_id}:{index}",
            event_type=event_type,
        )
        for index, refund in enumerate(refunds)
        if isinstance(refund, dict)
    ]
