"""The small interface every payment gateway implements, one module per provider."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from djmoney.money import Money

if TYPE_CHECKING:
    from topups.models import TopUp

NoticeStatus = Literal["paid", "pending", "failed", "cancelled", "expired", "ignored"]


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


def check_notice_fields(notice: PaymentNotice) -> PaymentNotice:
    """Refuse a notice whose identifiers could not be stored or matched (a 400, not a 500)."""
    from topups.exceptions import InvalidNotification

    limits = {"event_id": 255, "event_type": 100, "reference": 64, "session_id": 255, "account_ref": 64}
    for field, limit in limits.items():
        value = getattr(notice, field)
        if len(value) > limit:
            raise InvalidNotification(f"The event's {field} is longer than {limit} characters.")
        if not value.isprintable():  # NUL and other control characters: no provider sends them
            raise InvalidNotification(f"The event's {field} contains control characters.")
    if not notice.event_id:
        raise InvalidNotification("The event has no id.")
    return notice


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    redirect_url: str


class PaymentGateway(Protocol):
    name: str
    signature_header: str  # the HTTP header that carries the webhook signature

    def start_checkout(self, topup: "TopUp", *, success_url: str, cancel_url: str) -> CheckoutSession:
        """Open a hosted payment session; raises GatewayUnavailable."""

    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentNotice:
        """Verify and read a webhook delivery; raises InvalidNotification."""

    def fetch_payment(self, topup: "TopUp") -> PaymentNotice:
        """Ask the gateway what became of a top-up; raises GatewayUnavailable."""

    def close_checkout(self, topup: "TopUp") -> PaymentNotice:
        """Make the checkout unpayable and say how it ended ("paid" if the payment won the race)."""
