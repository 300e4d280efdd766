"""Stripe Checkout: the only module that imports `stripe`.

Sessions are created with mode=payment and our reference in client_reference_id and
metadata, under an idempotency key from our row, so a retried create never opens a
second session. Webhooks are verified on the raw body (signing.verify, Stripe's
scheme) and read as plain JSON in the documented event shape.
"""

import json
import time
from collections.abc import Mapping

import moneyed
import stripe
from django.conf import settings
from djmoney.money import Money

from topups.exceptions import GatewayUnavailable, InvalidNotification, RefundConflict
from topups.models import AutoTopUp, Refund, TopUp

from . import signing
from .base import (
    NOTHING_CHARGED,
    CardNotice,
    CheckoutSession,
    Notice,
    PaymentNotice,
    RefundNotice,
    RefundsListed,
    check_notice_fields,
    unreadable,
)
from .stripe_events import (
    LARGEST_AMOUNT_TOTAL,
    card_notice,
    charge_refunds,
    dispute_notice,
    from_minor_units,
    id_of,
    intent_notice,
    refund_notice,
)

# Pinned so a Stripe-side default change cannot alter the payloads we parse.
STRIPE_API_VERSION = "2026-10-28.endive"
SIGNATURE_HEADER = "Stripe-Signature"


def to_minor_units(money: Money) -> int:
    """Stripe wants integers in the currency's smallest unit: 100.50 USD -> 10050, 500 JPY -> 500."""
    sub_unit = moneyed.get_currency(str(money.currency)).sub_unit
    return int((money.amount * sub_unit).to_integral_exact())


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
        payment_intent_id=id_of(session.get("payment_intent")),
    )


# PaymentIntent statuses Stripe lets us cancel: no money has moved yet.
CANCELLABLE = ("requires_payment_method", "requires_confirmation", "requires_action", "requires_capture")


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
                        "product_data": {"name": topup.gateway_label},
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

    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> Notice:
        signing.verify(
            body,
            headers.get(SIGNATURE_HEADER),
            settings.STRIPE_WEBHOOK_SECRETS,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
        )
        return self.read_stored(body)

    def read_stored(self, body: bytes) -> Notice:
        """Read an event whose signature was verified when it arrived (a stored delivery)."""
        try:
            event = json.loads(body)
            event_id, event_type = str(event["id"]), str(event["type"])
            session = event["data"]["object"]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise unreadable("Stripe event", exc) from exc
        api_version = event.get("api_version") if isinstance(event, dict) else None
        if api_version not in (None, STRIPE_API_VERSION):
            # Another version means other payload shapes: read nothing from it, say why.
            raise InvalidNotification(
                f"Stripe event {event_id} has API version {api_version!r}; we read {STRIPE_API_VERSION}. "
                "Set the webhook endpoint's API version to it in the Stripe dashboard."[:300]
            )
        if not isinstance(session, dict):
            raise InvalidNotification("Unreadable Stripe event: data.object is not an object.")
        if not event_type.startswith("checkout.session."):
            return self._other_notice(session, event_id=event_id, event_type=event_type)
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
            raise unreadable("Stripe checkout session", exc) from exc

    def _other_notice(self, obj: Mapping, *, event_id: str, event_type: str) -> Notice:
        """Refunds and disputes; any other genuine event is acknowledged and ignored."""
        try:
            if event_type in ("refund.created", "refund.updated", "refund.failed"):
                return check_notice_fields(refund_notice(obj, event_id=event_id, event_type=event_type))
            if event_type == "charge.refunded":
                refunds = charge_refunds(obj, event_id=event_id, event_type=event_type)
                return RefundsListed(event_id, event_type, tuple(check_notice_fields(n) for n in refunds))
            if event_type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
                return check_notice_fields(intent_notice(obj, event_id=event_id, event_type=event_type))
            if event_type == "setup_intent.succeeded":
                return check_notice_fields(card_notice(obj, event_id=event_id, event_type=event_type))
            if event_type in ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed"):
                return check_notice_fields(dispute_notice(obj, event_id=event_id, event_type=event_type))
        except (ValueError, TypeError, ArithmeticError, moneyed.CurrencyDoesNotExist) as exc:
            raise unreadable(f"Stripe {event_type}", exc) from exc
        return check_notice_fields(
            PaymentNotice(event_id=event_id, event_type=event_type, reference="", status="ignored")
        )

    def start_card_setup(self, auto: AutoTopUp, *, success_url: str, cancel_url: str) -> CheckoutSession:
        """Checkout in setup mode for a Customer of ours; the SetupIntent carries our account id."""
        metadata = {"account": str(auto.account_id)}
        try:
            client = _client()
            customer_id = (
                auto.gateway_customer_id
                or client.v1.customers.create(
                    params={"name": auto.account.name[:200], "metadata": metadata},
                    options={"idempotency_key": f"customer:{auto.account_id}"},
                )["id"]
            )
            session = client.v1.checkout.sessions.create(
                params={
                    "mode": "setup",
                    "currency": auto.account.billing_currency.lower(),
                    "customer": customer_id,
                    "metadata": metadata,
                    "setup_intent_data": {"metadata": metadata},
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                }
            )
        except stripe.StripeError as exc:
            raise GatewayUnavailable(f"Stripe did not open the card page: {exc.user_message or exc}") from exc
        AutoTopUp.objects.filter(pk=auto.pk).update(gateway_customer_id=customer_id)
        return CheckoutSession(session_id=session["id"], redirect_url=session["url"])

    def fetch_card_setup(self, auto: AutoTopUp) -> CardNotice | None:
        if not auto.setup_session_id:
            return None
        try:
            session = (
                _client()
                .v1.checkout.sessions.retrieve(
                    auto.setup_session_id, params={"expand": ["setup_intent.payment_method"]}
                )
                .to_dict()
            )
        except stripe.StripeError as exc:
            raise GatewayUnavailable(f"Stripe could not show {auto.setup_session_id}: {exc}") from exc
        intent = session.get("setup_intent")
        if not isinstance(intent, dict) or intent.get("status") != "succeeded":
            return None
        return card_notice(
            {**intent, "metadata": {"account": str(auto.account_id), "setup_session": session.get("id")}},
            event_id=f"fetch:{session.get('id')}",
            event_type="setup.retrieved",
        )

    def charge_saved_card(self, topup: TopUp, auto: AutoTopUp) -> PaymentNotice:
        params = {
            "amount": to_minor_units(topup.amount),
            "currency": str(topup.amount.currency).lower(),
            "customer": auto.gateway_customer_id,
            "payment_method": auto.payment_method_id,
            "off_session": True,
            "confirm": True,
            "description": f"Auto top-up {topup.reference}",
            "metadata": {"topup": str(topup.public_id), "account": str(topup.account_id), "auto": "1"},
        }
        try:
            intent = (
                _client()
                .v1.payment_intents.create(params=params, options={"idempotency_key": f"topup:{topup.public_id}"})
                .to_dict()
            )
        except stripe.CardError as exc:
            # Declined, or the bank wants the customer (authentication_required): a failed charge.
            declined = exc.error.payment_intent if exc.error else None
            intent = declined.to_dict() if declined is not None else {}
            intent.setdefault("id", "")
            intent.update(
                status="requires_payment_method", last_payment_error={"message": exc.user_message or str(exc)}
            )
            intent.setdefault("amount", params["amount"])
            intent.setdefault("currency", params["currency"])
            intent["metadata"] = params["metadata"]
        except stripe.StripeError as exc:
            raise GatewayUnavailable(f"Stripe did not take the auto top-up: {exc.user_message or exc}") from exc
        return intent_notice(intent, event_id=f"charge:{intent.get('id')}", event_type="payment_intent.create")

    def refund(self, refund: Refund) -> RefundNotice:
        topup = refund.topup
        if not topup.payment_intent_id:
            raise RefundConflict(f"Stripe never told us the payment of {topup.reference}; refund it in Stripe.")
        params = {
            "payment_intent": topup.payment_intent_id,
            "amount": to_minor_units(refund.amount),
            "reason": "requested_by_customer",
            "metadata": {"topup": str(topup.public_id), "refund": str(refund.public_id)},
        }
        try:
            answer = (
                _client()
                .v1.refunds.create(params=params, options={"idempotency_key": f"refund:{refund.public_id}"})
                .to_dict()
            )
        except stripe.InvalidRequestError as exc:
            raise RefundConflict(f"Stripe refused the refund: {exc.user_message or exc}") from exc
        except stripe.StripeError as exc:
            raise GatewayUnavailable(f"Stripe did not answer the refund: {exc.user_message or exc}") from exc
        return refund_notice(answer, event_id=f"refund:{answer.get('id')}", event_type="refund.create")

    def fetch_payment(self, topup: TopUp) -> PaymentNotice:
        if topup.is_automatic:
            return self._intent_call(topup, cancel=False)
        return self._session_call(topup, "retrieve")

    def close_checkout(self, topup: TopUp) -> PaymentNotice:
        if topup.is_automatic:
            return self._intent_call(topup, cancel=True)
        try:
            return self._session_call(topup, "expire")
        except GatewayUnavailable as exc:
            # Only open sessions can be expired: it was completed or expired already, so ask.
            if isinstance(exc.__cause__, stripe.InvalidRequestError):
                return self.fetch_payment(topup)
            raise

    def _intent_call(self, topup: TopUp, *, cancel: bool) -> PaymentNotice:
        """An auto top-up's off-session PaymentIntent, where it stands; cancelled first if `cancel` and Stripe
        still can. Its id, or else the intent Stripe holds under the top-up's metadata (the answer to our
        charge may have been lost after Stripe took it: Stripe's search sees an intent within a minute, and
        the reconciler asks ten minutes on). No such intent: nothing was charged."""
        try:
            if topup.gateway_session_id:
                intent = _client().v1.payment_intents.retrieve(topup.gateway_session_id).to_dict()
            else:
                query = f"metadata['topup']:'{topup.public_id}'"
                found = _client().v1.payment_intents.search(params={"query": query, "limit": 1}).to_dict()
                intent = (found.get("data") or [None])[0]
            if intent is None:
                return PaymentNotice(
                    event_id=f"search:{topup.public_id}",
                    event_type="payment_intent.search",
                    reference=str(topup.public_id),
                    status="failed",
                    detail=NOTHING_CHARGED,
                )
            if cancel and intent.get("status") in CANCELLABLE:
                intent = _client().v1.payment_intents.cancel(intent["id"]).to_dict()
        except stripe.StripeError as exc:
            raise GatewayUnavailable(f"Stripe could not tell about {topup.reference}: {exc}") from exc
        return intent_notice(intent, event_id=f"intent:{intent.get('id')}", event_type="payment_intent.retrieve")

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
