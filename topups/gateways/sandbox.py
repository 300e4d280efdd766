"""The sandbox gateway: a hosted payment page served by this app under /sandbox-gateway/.

It behaves like a real provider from our side of the wire: it keeps its own sessions
(SandboxCheckout), and announces outcomes with signed server-to-server notifications
that go through the very same verification and crediting path as Stripe's.
"""

import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation

import moneyed
import requests
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from topups.exceptions import GatewayUnavailable, RefundConflict
from topups.models import AutoTopUp, Refund, SandboxCheckout, TopUp

from . import signing
from .base import (
    NOTHING_CHARGED,
    CardNotice,
    CheckoutSession,
    Notice,
    PaymentNotice,
    RefundNotice,
    check_notice_fields,
    unreadable,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Sandbox-Signature"
EVENT_STATUS = {
    "payment.succeeded": "paid",
    "payment.declined": "failed",
    "checkout.cancelled": "cancelled",
}
SESSION_STATUS = {
    SandboxCheckout.Status.OPEN: "pending",
    SandboxCheckout.Status.PAID: "paid",
    SandboxCheckout.Status.DECLINED: "failed",
    SandboxCheckout.Status.CANCELLED: "cancelled",
    SandboxCheckout.Status.EXPIRED: "expired",
}


class SandboxGateway:
    name = "sandbox"
    signature_header = SIGNATURE_HEADER

    def start_checkout(self, topup: TopUp, *, success_url: str, cancel_url: str) -> CheckoutSession:
        checkout = SandboxCheckout.objects.create(
            session_id=f"sbx_{secrets.token_hex(16)}",
            reference=str(topup.public_id),
            account_ref=str(topup.account_id),
            description=topup.gateway_label[:200],
            amount=topup.amount,
            success_url=success_url,
            cancel_url=cancel_url,
            expires_at=timezone.now() + timedelta(minutes=settings.TOPUP_CHECKOUT_TTL_MINUTES),
        )
        return CheckoutSession(
            session_id=checkout.session_id,
            redirect_url=reverse("sandbox:checkout", args=[checkout.session_id]),
        )

    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> Notice:
        signing.verify(
            body,
            headers.get(SIGNATURE_HEADER),
            settings.SANDBOX_WEBHOOK_SECRETS,
            tolerance=settings.WEBHOOK_TOLERANCE_SECONDS,
        )
        return self.read_stored(body)

    def read_stored(self, body: bytes) -> Notice:
        """Read an event whose signature was verified when it arrived (a stored delivery)."""
        try:
            event = json.loads(body)
            data = event["data"]
            event_id, event_type = str(event["id"]), str(event["type"])
            if event_type == "card.saved":
                return check_notice_fields(
                    CardNotice(
                        event_id=event_id,
                        event_type=event_type,
                        account_ref=str(data["account_ref"]),
                        session_id=str(data["session_id"]),
                        payment_method_id=str(data["payment_method"]),
                        label=str(data["label"]),
                    )
                )
            amount = Money(_amount(data["amount"]), moneyed.get_currency(str(data["currency"])))
            notice = PaymentNotice(
                event_id=event_id,
                event_type=event_type,
                reference=str(data["reference"]),
                status=EVENT_STATUS.get(event_type, "ignored"),
                amount=amount,
                session_id=str(data["session_id"]),
                account_ref=str(data["account_ref"]),
            )
        except (ValueError, KeyError, TypeError, InvalidOperation, RecursionError, moneyed.CurrencyDoesNotExist) as exc:
            raise unreadable("sandbox event", exc) from exc
        return check_notice_fields(notice)

    def fetch_payment(self, topup: TopUp) -> PaymentNotice:
        # An auto top-up's payment is named for the top-up (charge_saved_card), whether or not its answer arrived;
        # the sandbox charges when asked, so none means nothing was charged.
        session_id = _auto_payment_id(topup) if topup.is_automatic else topup.gateway_session_id
        checkout = SandboxCheckout.objects.filter(session_id=session_id).first()
        if checkout is None and topup.is_automatic:
            return PaymentNotice(event_id=f"fetch:{topup.public_id}", event_type="sandbox.fetch",
                                 reference=str(topup.public_id), status="failed", detail=NOTHING_CHARGED)  # fmt: skip
        if checkout is None:
            raise GatewayUnavailable("The sandbox has no session for this top-up.")
        return _session_notice(checkout)

    def start_card_setup(self, auto: AutoTopUp, *, success_url: str, cancel_url: str) -> CheckoutSession:
        checkout = SandboxCheckout.objects.create(
            mode=SandboxCheckout.Mode.SETUP,
            session_id=f"sbx_{secrets.token_hex(16)}",
            reference=str(auto.account_id),
            account_ref=str(auto.account_id),
            description=f"Save a card for auto top-up of {auto.account.name}",
            amount=Money(0, auto.account.billing_currency),
            success_url=success_url,
            cancel_url=cancel_url,
            expires_at=timezone.now() + timedelta(minutes=settings.TOPUP_CHECKOUT_TTL_MINUTES),
        )
        return CheckoutSession(checkout.session_id, reverse("sandbox:checkout", args=[checkout.session_id]))

    def fetch_card_setup(self, auto: AutoTopUp) -> CardNotice | None:
        checkout = SandboxCheckout.objects.filter(
            session_id=auto.setup_session_id, mode=SandboxCheckout.Mode.SETUP, status=SandboxCheckout.Status.PAID
        ).first()
        return None if checkout is None else _card_notice(checkout, event_id=f"fetch:{checkout.session_id}")

    def charge_saved_card(self, topup: TopUp, auto: AutoTopUp) -> PaymentNotice:
        """Charged at once, as an off-session card payment; a card saved as "declines" is declined."""
        setup = SandboxCheckout.objects.filter(session_id=auto.payment_method_id.removeprefix("sbxpm_")).first()
        if setup is None:
            raise GatewayUnavailable("The sandbox does not know this card.")
        declined = setup.card_declines
        # One payment per top-up, however often asked: the top-up's id is the key.
        payment, _ = SandboxCheckout.objects.get_or_create(
            session_id=_auto_payment_id(topup),
            defaults={
                "reference": str(topup.public_id),
                "account_ref": str(topup.account_id),
                "description": f"Auto top-up of account {topup.account_id}",
                "amount": topup.amount,
                "success_url": "",
                "cancel_url": "",
                "status": SandboxCheckout.Status.DECLINED if declined else SandboxCheckout.Status.PAID,
                "expires_at": timezone.now(),
                "completed_at": timezone.now(),
            },
        )
        notice = _session_notice(payment)
        if payment.status == SandboxCheckout.Status.DECLINED:
            return replace(notice, detail="The card was declined (sandbox test card).")
        return notice

    def refund(self, refund: Refund) -> RefundNotice:
        """The sandbox pays back at once, as a card refund that succeeds immediately."""
        checkout = SandboxCheckout.objects.filter(session_id=refund.topup.gateway_session_id).first()
        if checkout is None or checkout.status != SandboxCheckout.Status.PAID:
            raise RefundConflict("The sandbox has no paid session for this top-up.")
        return RefundNotice(
            event_id=f"refund:{_refund_id(refund)}",
            event_type="refund.create",
            refund_id=_refund_id(refund),
            status="succeeded",
            amount=refund.amount,
            reference=str(refund.public_id),
        )

    def close_checkout(self, topup: TopUp) -> PaymentNotice:
        SandboxCheckout.objects.filter(session_id=topup.gateway_session_id, status=SandboxCheckout.Status.OPEN).update(
            status=SandboxCheckout.Status.EXPIRED, completed_at=timezone.now()
        )
        return self.fetch_payment(topup)


def _auto_payment_id(topup: TopUp) -> str:
    """An auto top-up's sandbox payment, named for the top-up: asked twice, or asked about, it is the same one."""
    return f"sbx_{topup.public_id.hex}"


def _refund_id(refund: Refund) -> str:
    """Derived from our row, so asking twice (a retry) names the same refund, as Stripe's
    idempotency key makes it do."""
    return f"sbxre_{refund.public_id.hex[:24]}"


def _amount(value) -> Decimal:
    """A finite amount with at most two decimals, as the sandbox sends it."""
    amount = Decimal(str(value))
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")) or abs(amount) >= 10**15:
        raise ValueError(f"not a payable amount: {value!r}")
    return amount


def _card_notice(checkout: SandboxCheckout, *, event_id: str) -> CardNotice:
    return CardNotice(
        event_id=event_id,
        event_type="card.saved",
        account_ref=checkout.account_ref,
        session_id=checkout.session_id,
        payment_method_id=f"sbxpm_{checkout.session_id}",
        label="Visa •••• 0002 (declines)" if checkout.card_declines else "Visa •••• 4242",
    )


def _session_notice(checkout: SandboxCheckout) -> PaymentNotice:
    status = SESSION_STATUS[checkout.status]
    if status == "pending" and not checkout.is_payable(timezone.now()):
        status = "expired"
    return PaymentNotice(
        event_id=f"fetch:{checkout.session_id}",
        event_type="session.retrieved",
        reference=checkout.reference,
        status=status,
        amount=checkout.amount,
        session_id=checkout.session_id,
        account_ref=checkout.account_ref,
    )


# --- The provider's side: what the hosted page does when the payer clicks ---------------


def complete_checkout(checkout: SandboxCheckout, *, outcome: str) -> bool:
    """Close an open, unexpired session as paid, declined or cancelled; False if it could not be."""
    now = timezone.now()
    closed = SandboxCheckout.objects.filter(
        pk=checkout.pk, status=SandboxCheckout.Status.OPEN, expires_at__gt=now
    ).update(status=outcome, completed_at=now)
    checkout.refresh_from_db()
    return bool(closed)


def notification_body(checkout: SandboxCheckout) -> bytes:
    if checkout.mode == SandboxCheckout.Mode.SETUP:
        if checkout.status != SandboxCheckout.Status.PAID:
            raise ValueError("A setup session saves a card only when the payer saved one.")
        card = _card_notice(checkout, event_id="")
        data = {"session_id": checkout.session_id, "account_ref": checkout.account_ref}
        data.update(payment_method=card.payment_method_id, label=card.label)
        event = {
            "id": f"sbxevt_{secrets.token_hex(12)}",
            "type": "card.saved",
            "created": int(time.time()),
            "data": data,
        }
        return json.dumps(event).encode()
    event_type = {
        SandboxCheckout.Status.PAID: "payment.succeeded",
        SandboxCheckout.Status.DECLINED: "payment.declined",
        SandboxCheckout.Status.CANCELLED: "checkout.cancelled",
    }[checkout.status]
    event = {
        "id": f"sbxevt_{secrets.token_hex(12)}",
        "type": event_type,
        "created": int(time.time()),
        "data": {
            "session_id": checkout.session_id,
            "reference": checkout.reference,
            "account_ref": checkout.account_ref,
            "amount": str(checkout.amount.amount),
            "currency": str(checkout.amount.currency),
            "status": checkout.status,
        },
    }
    return json.dumps(event).encode()


def send_notification(checkout: SandboxCheckout, *, webhook_url: str) -> bool:
    """POST the signed outcome to our webhook, as a provider would. Returns whether it landed.

    A lost notification is not lost money: the reconciler asks fetch_payment() later.
    """
    body = notification_body(checkout)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signing.sign(body, settings.SANDBOX_WEBHOOK_SECRETS[0]),
    }
    try:
        response = requests.post(webhook_url, data=body, headers=headers, timeout=10)
    except requests.RequestException as exc:
        logger.warning("Sandbox notification for %s not delivered: %s", checkout.session_id, exc)
        return False
    if response.status_code >= 300:
        logger.warning("Sandbox notification for %s answered %s", checkout.session_id, response.status_code)
        return False
    return True
