"""The one interface every SMS provider module implements, and the setting that picks one.

Callers depend only on `get_backend().send(...)` and `SmsError.retryable`, so changing
provider is a settings change, and tests swap in the memory backend or a faked Twilio.
"""

from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_BACKEND = "accounts.sms.console.ConsoleBackend"


class SmsError(Exception):
    """Sending failed; `retryable` False means retrying cannot help (e.g. invalid number, bad credentials)."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class SmsBackend(Protocol):
    def send(self, to: str, text: str, *, idempotency_key: str) -> str:
        """Hand one message to the provider and return the provider's message id.

        `to` is E.164 (see accounts.phones.normalise_mobile). `idempotency_key` identifies the
        alert, so a retried task can be recognised as the same message. Raises SmsError.
        """
        ...


def get_backend() -> SmsBackend:
    """The backend named by settings.SMS_BACKEND (a dotted path to a class), instantiated with no arguments.

    Settings are read on every call rather than at import, so `settings` overrides in tests
    and a changed deployment setting take effect without restarting anything.
    """
    backend_class = import_string(getattr(settings, "SMS_BACKEND", DEFAULT_BACKEND))
    return backend_class()
