"""The small interface every payment gateway implements, one module per provider."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from django.utils.translation import gettext_noop
from djmoney.money import Money

if TYPE_CHECKING:
    from topups.models import AutoTopUp, Refund, TopUp

NoticeStatus = Literal["paid", "pending", "failed", "cancelled", "expired", "ignored"]


# What a gateway that has no payment for an auto top-up says: stored as the top-up's reason, shown translated.
NOTHING_CHARGED = gettext_noop("The payment gateway has no payment for this auto top-up: nothing was charged.")


@dataclass(frozen=True)
class PaymentNotice:
    """What a gateway tells us about one payment, from a webhook or a reconciliation."""

    event_id: str  # provider event id, unique per gateway in our DB
    event_type: str
    reference: str  # our TopUp.public_id, echoed back by the provider ("" if none)
    status: NoticeStatus
    amount: Money | None = None
    session_id: str = ""
    account_ref: str = ""  # our account id as we sent it, to check the owner
    detail: str = ""  # a reason for failures, for people
    payment_intent_id: str = ""  # the provider's id of the payment, kept for refunds and disputes


@dataclass(frozen=True)
class RefundNotice:
    """What a gateway tells us about one refund (ours or one made in its dashboard)."""

    event_id: str
    event_type: str
    refund_id: str  # the provider's refund id
    status: Literal["pending", "succeeded", "failed"]
    amount: Money
    payment_intent_id: str = ""
    charge_id: str = ""
    reference: str = ""  # our Refund.public_id when we asked for it ("" for a dashboard refund)
    detail: str = ""


@dataclass(frozen=True)
class DisputeNotice:
    """What a gateway tells us about a cardholder's dispute (chargeback) of a payment."""

    event_id: str
    event_type: str
    dispute_id: str
    status: Literal["inquiry", "open", "won", "lost", "closed"]  # topups.models.Dispute.Status
    amount: Money
    payment_intent_id: str = ""
    charge_id: str = ""
    reason: str = ""


@dataclass(frozen=True)
class CardNotice:
    """A card the payer saved on the gateway's page, for auto top-up (never the number)."""

    event_id: str
    event_type: str
    account_ref: str  # our account id as we sent it
    session_id: str  # the setup session it was saved in
    payment_method_id: str
    customer_id: str = ""
    label: str = "Card"  # "Visa •••• 4242"


@dataclass(frozen=True)
class RefundsListed:
    """A payment's refunds as one event lists them (Stripe's charge.refunded)."""

    event_id: str
    event_type: str
    refunds: tuple[RefundNotice, ...]


Notice = PaymentNotice | RefundNotice | DisputeNotice | RefundsListed | CardNotice


def check_notice_fields(notice):
    """Refuse a notice whose identifiers could not be stored or matched (a 400, not a 500)."""
    from topups.exceptions import InvalidNotification

    limits = {
        "event_id": 255,
        "event_type": 100,
        "reference": 64,
        "session_id": 255,
        "account_ref": 64,
        "payment_intent_id": 255,
        "charge_id": 255,
        "refund_id": 255,
        "dispute_id": 255,
        "reason": 100,
        "payment_method_id": 255,
        "customer_id": 255,
        "label": 100,
    }
    for field, limit in limits.items():
        if not hasattr(notice, field):
            continue
        value = getattr(notice, field)
        if len(value) > limit:
            raise InvalidNotification(f"The event's {field} is longer than {limit} characters.")
        if not value.isprintable():  # NUL and other control characters: no provider sends them
            raise InvalidNotification(f"The event's {field} contains control characters.")
    if not notice.event_id:
        raise InvalidNotification("The event has no id.")
    return notice


def unreadable(what: str, exc: Exception):
    """The InvalidNotification for an event we could not read, saying what is wrong in the event's own
    terms: a missing field by name, JSON by line and column. It had quoted Python's repr of the error
    (KeyError('amount'), InvalidOperation([<class …>])) to whoever sent it."""
    from topups.exceptions import InvalidNotification

    if isinstance(exc, KeyError):
        why = f"the field {exc.args[0]!s} is missing"
    elif isinstance(exc, json.JSONDecodeError):
        why = f"not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    elif isinstance(exc, RecursionError):
        why = "nested too deeply"
    else:
        why = "a field is not of the type or in the form the gateway documents"
    return InvalidNotification(f"Unreadable {what}: {why}."[:300])


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    redirect_url: str


class PaymentGateway(Protocol):
    name: str
    signature_header: str  # the HTTP header that carries the webhook signature

    def start_checkout(self, topup: "TopUp", *, success_url: str, cancel_url: str) -> CheckoutSession:
        """Open a hosted payment session; raises GatewayUnavailable."""

    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> Notice:
        """Verify and read a webhook delivery; raises InvalidNotification."""

    def read_stored(self, body: bytes) -> Notice:
        """Read a delivery verified when it arrived, from its stored body; raises InvalidNotification."""

    def fetch_payment(self, topup: "TopUp") -> PaymentNotice:
        """Ask the gateway what became of a top-up; raises GatewayUnavailable."""

    def close_checkout(self, topup: "TopUp") -> PaymentNotice:
        """Make the checkout unpayable and say how it ended ("paid" if the payment won the race)."""

    def start_card_setup(self, auto: "AutoTopUp", *, success_url: str, cancel_url: str) -> CheckoutSession:
        """Open the gateway's page where the payer saves a card for off-session payments."""

    def fetch_card_setup(self, auto: "AutoTopUp") -> CardNotice | None:
        """The card saved in the auto top-up's setup session, if there is one yet."""

    def charge_saved_card(self, topup: "TopUp", auto: "AutoTopUp") -> PaymentNotice:
        """Charge the saved card off-session for `topup`, under its idempotency key; a decline
        or a payment that needs the customer (3-D Secure) is a "failed" notice with the reason."""

    def refund(self, refund: "Refund") -> RefundNotice:
        """Ask the gateway to pay back `refund.amount` of its top-up's payment, under an
        idempotency key from the row; raises GatewayUnavailable (nothing was refunded or
        the same key will find it) or RefundRefused (the gateway said no)."""
