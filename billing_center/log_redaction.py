"""The last line of defence for logs: no secret and no full phone number in a log line.

Our own log calls already mask numbers (billing_center.privacy.mask_phone); these formatters also
cover what we do not write ourselves: a library's exception text, a traceback, a URL with its
password. They redact the whole formatted record, traceback included: RedactingFormatter the
readable line, RedactingJsonFormatter each value before it is encoded (a secret with a quote in it
would not match once escaped) and the encoded line (values that were objects until then).
"""

import logging
import re

from django.conf import settings
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from billing_center.privacy import mask_phone

# E.164 as it appears in text: "+" and 8-15 digits, not part of an amount or a longer word.
PHONE = re.compile(r"(?<![\w.+])\+\d{8,15}(?![\d.])")
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@", re.IGNORECASE)
BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
SECRET_SETTINGS = (
    "SECRET_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRETS",
    "SANDBOX_WEBHOOK_SECRETS",
    "TWILIO_AUTH_TOKEN",
    "EMAIL_HOST_PASSWORD",
    "OPEN_EXCHANGE_RATES_APP_ID",
    "METRICS_TOKEN",
)


def configured_secrets() -> list[str]:
    values = []
    for name in SECRET_SETTINGS:
        value = getattr(settings, name, "")
        values += value if isinstance(value, list | tuple) else [value]
    # Longest first, so a secret that contains another is replaced whole.
    return sorted((v for v in values if isinstance(v, str) and len(v) >= 8), key=len, reverse=True)


def redact(text: str) -> str:
    for secret in configured_secrets():
        text = text.replace(secret, "[secret]")
    text = URL_PASSWORD.sub(r"\1***@", text)
    text = BEARER.sub(r"\1[token]", text)
    return PHONE.sub(lambda match: mask_phone(match[0]), text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _redact_values(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_values(item) for item in value]
    return value


class RedactingJsonFormatter(JsonFormatter):
    """One JSON object per line (python-json-logger), redacted like RedactingFormatter.

    Django passes the request object as an extra on its request log lines; it is left out (the
    path is in the message, and its repr would print the query string)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request"])
        super().__init__(*args, **kwargs)

    def process_log_record(self, log_data: dict) -> dict:
        return _redact_values(log_data)

    def serialize_log_record(self, log_data: dict) -> str:
        return redact(super().serialize_log_record(log_data))
