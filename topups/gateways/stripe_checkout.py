"""Stripe Checkout: the only module that imports `stripe`.

Sessions are created with mode=payment and our reference in client_reference_id and
metadata, under an idempotency key from our row, so a retried create never opens a
second session. Webhooks are verified on the raw body (signing.verify, Stripe's
scheme) and read as plain JSON in the documented event shape.
"""

import json
import time
from collections.abc import Mapping
from decimal import Decimal

import moneyed
import stripe
from django.conf import settings
from djmoney.money import Money

from topups.exceptions import GatewayUnavailable, InvalidNotification
from topups.models import TopUp

from . import signing
from .base import CheckoutSession, PaymentNotice, check_notice_fields

# Pinned so a Stripe-side default change cannot alter the payloads we parse.
STRIPE_API_VERSION = "2026-10-28.endive"
SIGNATURE_HEADER = "Stripe-Signature"


def to_minor_units(money: Money) -> int:
    """Stripe wants integers in the currency's smallest unit: 100.50 USD -> 10050, 500 JPY -> 500."""
    sub_unit = moneyed.get_currency(str(money.currency)).sub_unit
    return int((money.amount * sub_unit).to_integral_exact())


def from_minor_units(value: int, currency: str) -> Money:
    code = currency.upper()
    return Money(Decimal(value) / moneyed.get_currency(code).sub_unit, code)


def _client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise GatewayUnavailable("Stripe is not configured: set STRIPE_SECRET_KEY.")
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": settings.STRIPE_API_BASE},
        # The SDK waits 80 s per try by default: a hung Stripe would hold the Pay page for
        # minutes. Two tries of (3 s connect + STRIPE_TIMEOUT_SECONDS) stay inside a worker's
        # request timeout; the idempotency key makes the second try safe.
        http_client=stripe.RequestsClient(timeout=(3, settings.STRIPE_TIMEOUT_SECONDS)),
        max_network_retries=1,
    )


def _session_status(session: Mapping) -> str:
    if session.get("status") == "expired":
        return "expired"
    if session.get("status") == "complete" and session.get("payment_status") in ("paid", "no_payment_required"):
        return "paid"
    return "pending"


# Stripe's largest amount is 99,999,999 minor units; far beyond it cannot even be shown
# in a mismatch report (Decimal's 28 digits), so such an event is refused as unreadable.
LARGEST_AMOUNT_TOTAL = 10**15


def _notice(session: Mapping, *, event_id: str, event_type: str, status: str) -> PaymentNotice:
    metadata = session.get("metadata") or {}
    amount_total, currency = session.get("amount_total"), session.get("currency")
    if not isinstance(metadata, dict):
        raise ValueError("metadata is not an object")
    if currency is not None and not isinstance(currency, str):
        raise ValueError("currency is not a string")
    amount = None
    if isinstance(amount_total, int) and currency:
        if abs(amount_total) > LARGEST_AMOUNT_TOTAL:  # a bool or a negative amount is flagged as a mismatch
            raise ValueError(f"amount_total out of range: {amount_total!r}"[:100])
        amount = from_minor_units(amount_total, currency)
    return PaymentNotice(
        event_id=event_id,
        event_type=event_type,
        reference=str(session.get("client_reference_id") or metadata.get("topup") or ""),
        status=status,
        amount=amount,
        session_id=str(session.get("id") or ""),
        account_ref=str(metadata.get("account") or ""),
    )


class StripeCheckoutGateway:
    name = "stripe"
    signature_header = SIGNATURE_HEADER

    def start_checkout(self, topup: TopUp, *, success_url: str, cancel_url: str) -> CheckoutSession:
        params = {
            "mode": "payment",
            "client_reference_id": str(topup.public_id),
            "metadata": {"topup": str(topup.public_id), "account": str(topup.account_id)},
            "payment_intent_data": {"metadata": {"topup": str(topup.public_id), "account": str(topup.account_id)}},
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": str(topup.amount.currency).lower(),
                        "unit_amount": to_minor_units(topup.amount),
                        "product_data": {"name": f"Account top-up {topup.reference}"},
                    },
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
            # Past this Stripe refuses the payment, so a stale checkout cannot top up later.
            "expires_at": int(time.time()) + max(settings.TOPUP_CHECKOUT_TTL_MINUTES, 30) * 60,
        }
        try:
            session = _client().v1.checkout.sessions.create(
                params=params, options={"idempotency_key": f"topup:{topup.public_id}"}
            )
        except stripe.StripeError as exc:
            raise GatewayUnavailable(f"Stripe did not open a checkout session: {exc.user_message or exc}") from exc
        return CheckoutSession(session_id=session["id"], redirect_url=session["url"])

    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentNotice:
        signing.verify(
            body,
            headers.get(SIGNATURE_HEADER),
            settings.STRIPE_WEBHOOK_SECRETS,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
        )
        try:
            event = json.loads(body)
            event_id, event_type = str(event["id"]), str(event["type"])
            session = event["data"]["object"]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise InvalidNotification(f"Unreadable Stripe event: {exc}") from exc
        if not event_type.startswith("checkout.session.") or not isinstance(session, dict):
            # Signed and genuine, just not about checkout sessions: acknowledge and move on.
            return check_notice_fields(
                PaymentNotice(event_id=event_id, event_type=event_type, reference="", status="ignored")
            )
        status = {
            # "completed" can arrive before the money has (delayed methods): only "paid" credits.
            "checkout.session.completed": _session_status(session),
            "checkout.session.async_payment_succeeded": "paid",
            "checkout.session.async_payment_failed": "failed",
            "checkout.session.expired": "expired",
        }.get(event_type, "ignored")
        try:
            return check_notice_fields(_notice(session, event_id=event_id, event_type=event_type, status=status))
        except (ValueError, TypeError, ArithmeticError, moneyed.CurrencyDoesNotExist) as exc:
            raise InvalidNotification(f"Unreadable Stripe checkout session: {exc!r}"[:300]) from exc

    def fetch_payment(self, topup: TopUp) -> PaymentNotice:
        return self._session_call(topup, "retrieve")

    def close_checkout(self, topup: TopUp) -> PaymentNotice:
        try:
            return self._session_call(topup, "expire")
        except GatewayUnavailable as exc:
            # Only open sessions can be expired: it was completed or expired already, so ask.
            if isinstance(exc.__cause__, stripe.InvalidRequestError):
                return self.fetch_payment(topup)
            raise

    def _session_call(self, topup: TopUp, action: str) -> PaymentNotice:
        """Retrieve or expire the top-up's Checkout Session and say where it stands."""
        if not topup.gateway_session_id:
            raise GatewayUnavailable("This top-up never reached Stripe.")
        try:
            session = getattr(_client().v1.checkout.sessions, action)(topup.gateway_session_id).to_dict()
        except stripe.StripeError as exc:
            raise GatewayUnavailable(f"Stripe could not {action} {topup.gateway_session_id}: {exc}") from exc
        return _notice(
            session,
            event_id=f"{action}:{session.get('id')}",
            event_type=f"session.{action}",
            status=_session_status(session),
        )
