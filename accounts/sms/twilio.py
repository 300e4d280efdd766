"""Twilio's Programmable Messaging REST API (Messages resource, API version 2010-04-01).

Plain `requests` rather than the twilio SDK: one documented POST is all we need, and
`responses` can fake it at the HTTP boundary (tests/fakes/twilio.py).
"""

import logging

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from accounts.sms.base import SmsError
from billing_center.privacy import mask_phone

logger = logging.getLogger("accounts.sms")

DEFAULT_API_BASE = "https://api.twilio.com"
TIMEOUT = (3, 10)  # seconds to connect, seconds to wait for the answer


class TwilioBackend:
    """Sends through Twilio with the account SID and auth token (HTTP Basic auth).

    The sender is a Messaging Service when TWILIO_MESSAGING_SERVICE_SID is set (Twilio then
    picks a number per destination country), otherwise TWILIO_FROM_NUMBER.
    """

    def __init__(self) -> None:
        self.account_sid = getattr(settings, "TWILIO_ACCOUNT_SID", "") or ""
        self._auth_token = getattr(settings, "TWILIO_AUTH_TOKEN", "") or ""
        self.messaging_service_sid = getattr(settings, "TWILIO_MESSAGING_SERVICE_SID", "") or ""
        self.from_number = getattr(settings, "TWILIO_FROM_NUMBER", "") or ""
        missing = [
            name
            for name, value in (("TWILIO_ACCOUNT_SID", self.account_sid), ("TWILIO_AUTH_TOKEN", self._auth_token))
            if not value
        ]
        if not (self.messaging_service_sid or self.from_number):
            missing.append("TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
        if missing:
            raise ImproperlyConfigured(f"TwilioBackend needs {', '.join(missing)}.")
        base = (getattr(settings, "TWILIO_API_BASE", "") or DEFAULT_API_BASE).rstrip("/")
        self.url = f"{base}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def __repr__(self) -> str:
        return f"<TwilioBackend account={self.account_sid}>"

    def send(self, to: str, text: str, *, idempotency_key: str) -> str:
        form = {"To": to, "Body": text}
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = self.from_number
        try:
            response = requests.post(
                self.url,
                data=form,
                auth=(self.account_sid, self._auth_token),
                headers={"I-Twilio-Idempotency-Token": idempotency_key, "Accept": "application/json"},
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            message = self._redact(f"Twilio could not be reached ({type(exc).__name__}): {exc}")
            logger.warning("SMS to %s not sent: %s", mask_phone(to), message)
            raise SmsError(message, retryable=True) from exc

        payload = self._json(response)
        if response.status_code == 201 and isinstance(payload.get("sid"), str):
            logger.info(
                "SMS to %s accepted by Twilio as %s (%s)", mask_phone(to), payload["sid"], payload.get("status")
            )
            return payload["sid"]

        message, retryable = self._describe_failure(response, payload)
        message = message.replace(to, mask_phone(to))  # Twilio quotes the number in its errors
        logger.warning("SMS to %s not sent: %s", mask_phone(to), message)
        raise SmsError(message, retryable=retryable)

    def _describe_failure(self, response: requests.Response, payload: dict) -> tuple[str, bool]:
        """Twilio's code and message, and whether trying again later can succeed.

        A 4xx other than 429 means this request itself is wrong (bad number, credentials,
        unsubscribed recipient): repeating it gets the same answer. A 2xx without a message
        sid is not retried either, because Twilio may already have queued the message.
        """
        status = response.status_code
        code = payload.get("code")
        detail = payload.get("message") or response.reason or response.text[:200]
        message = self._redact(f"Twilio answered HTTP {status} (code {code}): {detail}")
        if 200 <= status < 300:
            return f"Twilio answered HTTP {status} without a message sid", False
        if status == 429 or status >= 500:
            return message, True
        if 400 <= status < 500:
            return message, False
        return message, True

    @staticmethod
    def _json(response: requests.Response) -> dict:
        try:
            payload = response.json()
        except ValueError:
            return {}
        return payload if isinstance(payload, dict) else {}

    def _redact(self, text: str) -> str:
        """Errors are logged and stored on tasks; the auth token must never travel with them."""
        return text.replace(self._auth_token, "[auth token]")
