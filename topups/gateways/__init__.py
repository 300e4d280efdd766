"""Payment gateways by name; settings.PAYMENT_GATEWAY picks the one new top-ups use."""

from django.conf import settings
from django.http import Http404

from .base import CheckoutSession, PaymentGateway, PaymentNotice

__all__ = ["CheckoutSession", "PaymentGateway", "PaymentNotice", "get_gateway", "get_gateway_or_404"]


def _enabled() -> dict[str, type]:
    from .sandbox import SandboxGateway
    from .stripe_checkout import StripeCheckoutGateway

    gateways: dict[str, type] = {}
    # The sandbox lets anyone pay without money: only where it was chosen.
    if settings.PAYMENT_GATEWAY == "sandbox":
        gateways["sandbox"] = SandboxGateway
    # Stripe stays reachable while it has keys, so its late webhooks still land after a switch.
    if settings.PAYMENT_GATEWAY == "stripe" or settings.STRIPE_SECRET_KEY:
        gateways["stripe"] = StripeCheckoutGateway
    return gateways


def get_gateway(name: str) -> PaymentGateway:
    gateway_class = _enabled().get(name)
    if gateway_class is None:
        raise LookupError(f"Payment gateway {name!r} is not enabled.")
    return gateway_class()


def get_gateway_or_404(name: str) -> PaymentGateway:
    try:
        return get_gateway(name)
    except LookupError as exc:
        raise Http404(str(exc)) from exc
