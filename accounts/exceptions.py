"""Domain errors. Every one carries a message a person can act on; callers turn it into
a form error and a 4xx, never a 500."""


class BillingError(Exception):
    code = "billing_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class CurrencyMismatch(BillingError):
    code = "currency_mismatch"


class TopUpNotAllowed(BillingError):
    code = "topup_not_allowed"
