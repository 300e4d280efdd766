"""Errors of online top-ups; the kinds (Invalid, Refused, …) are in money.errors."""

from django.utils.translation import gettext

from money.errors import Conflict, Invalid, Refused, Unavailable


class TopUpLimitExceeded(Invalid):
    """Above the minimum, maximum or daily limit: the amount is what is wrong."""

    code = "topup_limit_exceeded"


class GatewayUnavailable(Unavailable):
    """The payment gateway could not be reached or refused the call."""

    code = "gateway_unavailable"


class InvalidNotification(Invalid):
    """A webhook delivery we cannot trust or cannot read: answered with a 400."""

    code = "invalid_notification"


class RefundRefused(Refused):
    """A refund finance may not make: more than was paid, not credited, beyond the balance without an override."""

    code = "refund_refused"


class RefundConflict(Conflict):
    """The gateway said no to a refund (already refunded there, disputed, too old)."""

    code = "refund_conflict"


class RepaymentNotAllowed(Refused):
    """Repaying bills is for postpaid accounts."""

    def __init__(self, message: str = "", *, code: str = "repayment_not_allowed"):
        super().__init__(message or gettext("Only postpaid accounts repay bills."), code=code)
