"""Domain errors. Each carries a message a person can act on and a stable code, and its
class says what kind of "no" it is; billing_center.errors turns that kind into a form
error, a page or the API's JSON (400, 403, 404, 409, 503). No service speaks HTTP."""


class BillingError(Exception):
    """Something we will not do, with the reason. The base class means: the input is invalid."""

    code = "billing_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class Invalid(BillingError):
    """The request itself is wrong: a bad amount, an empty reason, a wrong code."""

    code = "invalid"


class Refused(BillingError):
    """The request is well formed, but this account or user may not do it."""

    code = "refused"


class NotFound(BillingError):
    """What the request names does not exist for this caller."""

    code = "not_found"


class Conflict(BillingError):
    """The state has moved on: already decided, already used, changed by someone else."""

    code = "conflict"


class Unavailable(BillingError):
    """A service we depend on did not answer; nothing was changed, try again later."""

    code = "unavailable"


class CurrencyMismatch(Invalid):
    code = "currency_mismatch"
