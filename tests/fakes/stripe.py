"""Stripe, faked at the HTTP boundary with its documented payloads.

The real `stripe` SDK makes real HTTP requests; `responses` answers them here the way
api.stripe.com does (Checkout Session objects, error envelopes, idempotent replays).
Webhooks are signed with Stripe's real scheme, so our production verification runs.
"""

import hashlib
import hmac
import json
import re
import secrets
import time
from urllib.parse import parse_qsl

import responses

API = "https://api.stripe.com"
SESSION_URL = re.compile(rf"{re.escape(API)}/v1/checkout/sessions/(?P<id>[\w]+)$")
EXPIRE_URL = re.compile(rf"{re.escape(API)}/v1/checkout/sessions/(?P<id>[\w]+)/expire$")


def stripe_signature(body: bytes, secret: str, at: int) -> str:
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def checkout_session(*, topup=None, **overrides) -> dict:
    """A Checkout Session object as Stripe documents it (mode=payment)."""
    session_id = overrides.pop("id", None) or (
        topup.gateway_session_id if topup else f"cs_test_{secrets.token_hex(12)}"
    )
    session = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": 10000,
        "amount_total": 10000,
        "cancel_url": "https://billing.example/cancel",
        "client_reference_id": str(topup.public_id) if topup else None,
        "created": int(time.time()),
        "currency": "usd",
        "customer": None,
        "expires_at": int(time.time()) + 86400,
        "livemode": False,
        "metadata": {"topup": str(topup.public_id), "account": str(topup.account_id)} if topup else {},
        "mode": "payment",
        "payment_intent": f"pi_{secrets.token_hex(12)}",
        "payment_status": "unpaid",
        "status": "open",
        "success_url": "https://billing.example/success",
        "url": f"https://checkout.stripe.com/c/pay/{session_id}",
    }
    if topup is not None:
        minor = int(topup.amount.amount * (1 if str(topup.amount.currency) == "JPY" else 100))
        session.update(amount_subtotal=minor, amount_total=minor, currency=str(topup.amount.currency).lower())
    session.update(overrides)
    return session


def event(event_type: str, session: dict, *, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "data": {"object": session},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def paid_session(topup, **overrides) -> dict:
    return checkout_session(topup=topup, status="complete", payment_status="paid", url=None, **overrides)


def signed(payload: dict, *, secret: str = "whsec_test_current", at: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    return body, stripe_signature(body, secret, int(time.time()) if at is None else at)


def post_webhook(client, body: bytes, signature: str | None):
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post("/webhooks/stripe/", data=body, content_type="application/json", **headers)


class FakeStripe:
    """api.stripe.com for the Checkout endpoints we call."""

    def __init__(self):
        self.sessions: dict[str, dict] = {}
        self.by_idempotency_key: dict[str, str] = {}
        self.create_requests: list[dict] = []
        self.down = False
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)

    def __enter__(self):
        self.mock.__enter__()
        self.mock.add_callback(responses.POST, f"{API}/v1/checkout/sessions", callback=self._create)
        self.mock.add_callback(responses.GET, SESSION_URL, callback=self._retrieve)
        self.mock.add_callback(responses.POST, EXPIRE_URL, callback=self._expire)
        return self

    def __exit__(self, *exc):
        return self.mock.__exit__(*exc)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None):
        body = {"error": {"type": kind, "message": message, **({"code": code} if code else {})}}
        return status, {"Request-Id": f"req_{secrets.token_hex(6)}"}, json.dumps(body)

    def _create(self, request):
        if self.down:
            return self._error(500, "An unknown error occurred", kind="api_error")
        key = request.headers.get("Idempotency-Key")
        if key in self.by_idempotency_key:  # Stripe replays the first answer for a repeated key
            return 200, {"Idempotent-Replayed": "true"}, json.dumps(self.sessions[self.by_idempotency_key[key]])
        form = dict(parse_qsl(request.body if isinstance(request.body, str) else request.body.decode()))
        self.create_requests.append({"form": form, "headers": dict(request.headers)})
        session = checkout_session(
            client_reference_id=form.get("client_reference_id"),
            metadata={k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            amount_total=int(form["line_items[0][price_data][unit_amount]"]),
            amount_subtotal=int(form["line_items[0][price_data][unit_amount]"]),
            currency=form["line_items[0][price_data][currency]"],
            success_url=form["success_url"],
            cancel_url=form["cancel_url"],
        )
        self.sessions[session["id"]] = session
        if key:
            self.by_idempotency_key[key] = session["id"]
        return 200, {}, json.dumps(session)

    def _retrieve(self, request):
        if self.down:
            return self._error(500, "An unknown error occurred", kind="api_error")
        session_id = SESSION_URL.match(request.url.split("?")[0]).group("id")
        if session_id not in self.sessions:
            return self._error(404, f"No such checkout.session: '{session_id}'", code="resource_missing")
        return 200, {}, json.dumps(self.sessions[session_id])

    def _expire(self, request):
        if self.down:
            return self._error(500, "An unknown error occurred", kind="api_error")
        session = self.sessions.get(EXPIRE_URL.match(request.url).group("id"))
        if session is None:
            return self._error(404, "No such checkout.session", code="resource_missing")
        if session["status"] != "open":
            return self._error(400, "Only Checkout Sessions with a status of open can be expired.")
        session.update(status="expired", url=None)
        return 200, {}, json.dumps(session)

    # What happens on Stripe's side while the customer is on its page.
    def add_session(self, session: dict) -> dict:
        self.sessions[session["id"]] = session
        return session

    def pay(self, session_id: str) -> dict:
        self.sessions[session_id].update(status="complete", payment_status="paid", url=None)
        return self.sessions[session_id]

    def expire(self, session_id: str) -> dict:
        self.sessions[session_id].update(status="expired", url=None)
        return self.sessions[session_id]
