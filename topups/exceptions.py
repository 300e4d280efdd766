from accounts.exceptions import BillingError, TopUpNotAllowed

__all__ = [
    "BillingError",
    "TopUpNotAllowed",
    "TopUpLimitExceeded",
    "GatewayUnavailable",
    "InvalidNotification",
    "RateUnavailable",
    "QuoteExpired",
]


class TopUpLimitExceeded(BillingError):
    code = "topup_limit_exceeded"


class GatewayUnavailable(BillingError):
    """The payment gateway could not be reached or refused the call."""

    code = "gateway_unavailable"


class InvalidNotification(BillingError):
    """A webhook delivery we cannot trust or cannot read: answered with a 400."""

    code = "invalid_notification"


class RateUnavailable(BillingError):
    """No usable exchange rate: missing or stale. We refuse rather than guess."""

    code = "rate_unavailable"


class QuoteExpired(BillingError):
    """The quote a form carried is expired, foreign, or its rate sheet has changed since."""

    code = "quote_expired"
