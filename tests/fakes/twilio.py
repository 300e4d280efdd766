"""Twilio's Messages API, faked at the HTTP boundary with its documented payloads.

`accounts.sms.twilio.TwilioBackend` makes real `requests` calls; `responses` answers them
here the way api.twilio.com does: Basic auth checked against the account SID and auth
token (401, code 20003), `To` validated as E.164 (400, code 21211), and a 201 Message
resource (sid "SM" + 32 hex) for each accepted message.

Usage::

    def test_alert(settings):
        with FakeTwilio() as twilio:
            twilio.configure(settings)          # TWILIO_* settings pointing at this fake
            settings.SMS_BACKEND = "accounts.sms.twilio.TwilioBackend"
            get_backend().send("+8613800138000", "Low balance", idempotency_key="k1")
        assert twilio.messages == [{"To": "+8613800138000", "Body": "Low balance", "From": twilio.from_number}]

    twilio.fail_next(2, status=500)                     # the next two sends get Twilio's 500
    twilio.fail_next(status=429)                        # ... or a rate limit
    twilio.fail_next(error=requests.ConnectionError())  # ... or never reach Twilio

A fixture belongs in a conftest::

    @pytest.fixture
    def fake_twilio(settings):
        with FakeTwilio() as twilio:
            twilio.configure(settings)
            yield twilio
"""

import base64
import json
import re
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl

import responses

API = "https://api.twilio.com"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")

ERRORS = {
    400: (21211, "Invalid 'To' Phone Number"),
    401: (20003, "Authenticate"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


def error_body(status: int, code: int, message: str) -> str:
    """Twilio's error envelope, as documented for every REST API error."""
    return json.dumps(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    )


def message_resource(account_sid: str, form: dict[str, str]) -> dict:
    """A Message resource as Twilio returns it from Create (not yet sent, so no price or date_sent)."""
    sid = f"SM{secrets.token_hex(16)}"
    now = format_datetime(datetime.now(UTC).replace(microsecond=0))
    via_service = "MessagingServiceSid" in form
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": form["Body"],
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0",
        "num_segments": "0" if via_service else "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "accepted" if via_service else "queued",
        "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
        "to": form["To"],
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }


class FakeTwilio:
    """api.twilio.com for POST /2010-04-01/Accounts/{AccountSid}/Messages.json."""

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        from_number: str = "+15005550006",
        api_base: str = API,
    ):
        self.account_sid = account_sid or f"AC{secrets.token_hex(16)}"
        self.auth_token = auth_token or secrets.token_hex(16)
        self.from_number = from_number
        self.api_base = api_base.rstrip("/")
        self.messages: list[dict[str, str]] = []
        self.resources: list[dict] = []
        self.requests: list[dict] = []
        self._failures: list[tuple[int | None, Exception | None]] = []
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)

    def __enter__(self) -> "FakeTwilio":
        self.mock.__enter__()
        url = re.compile(rf"{re.escape(self.api_base)}/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages\.json$")
        self.mock.add_callback(responses.POST, url, callback=self._create, content_type="application/json")
        return self

    def __exit__(self, *exc):
        return self.mock.__exit__(*exc)

    def configure(self, settings, *, messaging_service_sid: str | None = None) -> None:
        """Point the TWILIO_* settings (pytest-django's `settings` fixture) at this fake."""
        settings.TWILIO_ACCOUNT_SID = self.account_sid
        settings.TWILIO_AUTH_TOKEN = self.auth_token
        settings.TWILIO_FROM_NUMBER = self.from_number
        settings.TWILIO_MESSAGING_SERVICE_SID = messaging_service_sid
        settings.TWILIO_API_BASE = self.api_base

    def fail_next(self, count: int = 1, *, status: int = 500, error: Exception | None = None) -> None:
        """Answer the next `count` sends with Twilio's error for `status`, or raise `error` instead of answering."""
        self._failures.extend([(status, error)] * count)

    def _create(self, request):
        body = request.body if isinstance(request.body, str) else (request.body or b"").decode()
        form = dict(parse_qsl(body, keep_blank_values=True))
        self.requests.append(
            {
                "url": request.url,
                "form": form,
                "headers": dict(request.headers),
                "timeout": getattr(request, "req_kwargs", {}).get("timeout"),  # what requests was given, for tests
            }
        )
        if self._failures:
            status, error = self._failures.pop(0)
            if error is not None:
                return error
            code, message = ERRORS.get(status, (20500, "Internal Server Error"))
            return status, {}, error_body(status, code, message)

        account_sid = request.url.split("/Accounts/")[1].split("/")[0]
        if request.headers.get("Authorization") != self._basic_auth() or account_sid != self.account_sid:
            return 401, {}, error_body(401, 20003, "Authenticate")
        if not E164.match(form.get("To", "")):
            return 400, {}, error_body(400, 21211, f"Invalid 'To' Phone Number: {form.get('To', '')}")
        if not form.get("Body"):
            return 400, {}, error_body(400, 21602, "Message body is required.")
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return 400, {}, error_body(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.")

        self.messages.append({key: form[key] for key in ("To", "Body", "From", "MessagingServiceSid") if key in form})
        resource = message_resource(self.account_sid, form)
        self.resources.append(resource)
        return 201, {}, json.dumps(resource)

    def _basic_auth(self) -> str:
        return "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
