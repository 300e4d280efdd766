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
import threading
import time
from urllib.parse import parse_qsl

import responses

API = "https://api.stripe.com"
SESSION_URL = re.compile(rf"{re.escape(API)}/v1/checkout/sessions/(?P<id>[\w]+)$")
EXPIRE_URL = re.compile(rf"{re.escape(API)}/v1/checkout/sessions/(?P<id>[\w]+)/expire$")
INTENT_URL = re.compile(rf"{re.escape(API)}/v1/payment_intents/(?P<id>pi_\w+)$")
INTENT_CANCEL_URL = re.compile(rf"{re.escape(API)}/v1/payment_intents/(?P<id>pi_\w+)/cancel$")
INTENT_SEARCH_URL = re.compile(rf"{re.escape(API)}/v1/payment_intents/search(\?.*)?$")


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


def refund_object(*, payment_intent: str, amount: int, currency: str = "usd", **overrides) -> dict:
    """A Refund object as Stripe documents it (API 2026-10-28)."""
    refund = {
        "id": f"re_{secrets.token_hex(12)}",
        "object": "refund",
        "amount": amount,
        "balance_transaction": f"txn_{secrets.token_hex(12)}",
        "charge": f"ch_{payment_intent[3:]}",
        "created": int(time.time()),
        "currency": currency,
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": None,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    refund.update(overrides)
    return refund


def charge_object(*, payment_intent: str, amount: int, refunds: list[dict], currency: str = "usd") -> dict:
    """A Charge object after a refund, with its refunds listed (charge.refunded)."""
    return {
        "id": f"ch_{payment_intent[3:]}",
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": sum(r["amount"] for r in refunds if r["status"] == "succeeded"),
        "captured": True,
        "currency": currency,
        "paid": True,
        "payment_intent": payment_intent,
        "refunded": sum(r["amount"] for r in refunds if r["status"] == "succeeded") >= amount,
        "refunds": {"object": "list", "data": refunds, "has_more": False, "url": "/v1/refunds"},
        "status": "succeeded",
    }


def dispute_object(*, payment_intent: str, amount: int, status: str = "needs_response", **overrides) -> dict:
    """A Dispute object as Stripe documents it."""
    dispute = {
        "id": overrides.pop("id", None) or f"du_{secrets.token_hex(12)}",
        "object": "dispute",
        "amount": amount,
        "charge": f"ch_{payment_intent[3:]}",
        "created": int(time.time()),
        "currency": "usd",
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": status,
    }
    dispute.update(overrides)
    return dispute


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
        self.refunds: dict[str, dict] = {}
        self.refund_requests: list[dict] = []
        self.refund_status = "succeeded"  # what Stripe answers a refund create with
        self.intents: dict[str, dict] = {}
        self.card_declines = False  # the saved card: Stripe answers 402 card_declined
        self.charge_asked = threading.Event()  # set when a saved card's charge arrives
        self.hold_charges: threading.Event | None = None  # if given, a charge is answered once it is set
        self.down = False
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False)

    def __enter__(self):
        self.mock.__enter__()
        self.mock.add_callback(responses.POST, f"{API}/v1/checkout/sessions", callback=self._create)
        self.mock.add_callback(responses.GET, SESSION_URL, callback=self._retrieve)
        self.mock.add_callback(responses.POST, EXPIRE_URL, callback=self._expire)
        self.mock.add_callback(responses.POST, f"{API}/v1/refunds", callback=self._refund)
        self.mock.add_callback(responses.POST, f"{API}/v1/payment_intents", callback=self._payment_intent)
        self.mock.add_callback(responses.GET, INTENT_SEARCH_URL, callback=self._search_intents)
        self.mock.add_callback(responses.GET, INTENT_URL, callback=self._retrieve_intent)
        self.mock.add_callback(responses.POST, INTENT_CANCEL_URL, callback=self._cancel_intent)
        self.mock.add_callback(responses.POST, f"{API}/v1/customers", callback=self._customer)
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
        if form.get("mode") == "setup":  # saving a card: no amount, a SetupIntent for the customer
            session = checkout_session(
                mode="setup",
                amount_total=None,
                amount_subtotal=None,
                currency=form.get("currency"),
                customer=form.get("customer"),
                payment_intent=None,
                setup_intent=f"seti_{secrets.token_hex(12)}",
                metadata={k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
                success_url=form["success_url"],
                cancel_url=form["cancel_url"],
            )
            self.sessions[session["id"]] = session
            return 200, {}, json.dumps(session)
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

    def _refund(self, request):
        if self.down:
            return self._error(500, "An unknown error occurred", kind="api_error")
        key = request.headers.get("Idempotency-Key")
        if key in self.by_idempotency_key:
            return 200, {"Idempotent-Replayed": "true"}, json.dumps(self.refunds[self.by_idempotency_key[key]])
        form = dict(parse_qsl(request.body if isinstance(request.body, str) else request.body.decode()))
        self.refund_requests.append({"form": form, "headers": dict(request.headers)})
        paid = [x for x in self.sessions.values() if x.get("payment_intent") == form["payment_intent"]]
        refund = refund_object(
            payment_intent=form["payment_intent"],
            amount=int(form["amount"]),
            currency=paid[0]["currency"] if paid else "usd",  # a refund is in its payment's currency
            status=self.refund_status,
            metadata={k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            reason=form.get("reason"),
        )
        self.refunds[refund["id"]] = refund
        if key:
            self.by_idempotency_key[key] = refund["id"]
        return 200, {}, json.dumps(refund)

    def _customer(self, request):
        key = request.headers.get("Idempotency-Key")
        customer = {"id": f"cus_{(key or secrets.token_hex(6)).replace(':', '_')}", "object": "customer"}
        return 200, {}, json.dumps(customer)

    def _retrieve_intent(self, request):
        intent = self.intents.get(INTENT_URL.match(request.url)["id"])
        if intent is None:
            return self._error(404, "No such payment_intent", code="resource_missing")
        return 200, {}, json.dumps(intent)

    def _cancel_intent(self, request):
        intent = self.intents.get(INTENT_CANCEL_URL.match(request.url)["id"])
        if intent is None:
            return self._error(404, "No such payment_intent", code="resource_missing")
        if intent["status"] in ("succeeded", "canceled", "processing"):
            return self._error(
                400, f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}."
            )
        intent["status"] = "canceled"
        return 200, {}, json.dumps(intent)

    def _search_intents(self, request):
        """Stripe's search query language, as far as metadata['key']:'value' goes."""
        query = dict(parse_qsl(request.url.split("?", 1)[1]))["query"]
        key, value = re.fullmatch(r"metadata\['(\w+)'\]:'([^']*)'", query).groups()
        found = [intent for intent in self.intents.values() if intent["metadata"].get(key) == value]
        return (
            200,
            {},
            json.dumps(
                {"object": "search_result", "data": found, "has_more": False, "url": "/v1/payment_intents/search"}
            ),
        )

    def _payment_intent(self, request):
        """An off-session PaymentIntent, confirmed at once (auto top-up)."""
        self.charge_asked.set()
        if self.hold_charges is not None:
            assert self.hold_charges.wait(30), "the test never let the charge through"
        key = request.headers.get("Idempotency-Key")
        if key in self.by_idempotency_key:
            return 200, {"Idempotent-Replayed": "true"}, json.dumps(self.intents[self.by_idempotency_key[key]])
        form = dict(parse_qsl(request.body if isinstance(request.body, str) else request.body.decode()))
        intent = {
            "id": f"pi_{secrets.token_hex(12)}",
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "amount_received": 0 if self.card_declines else int(form["amount"]),
            "currency": form["currency"],
            "customer": form.get("customer"),
            "payment_method": form.get("payment_method"),
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "status": "requires_payment_method" if self.card_declines else "succeeded",
        }
        self.intents[intent["id"]] = intent
        if key:
            self.by_idempotency_key[key] = intent["id"]
        if self.card_declines:
            error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.",
                "payment_intent": intent,
            }
            return 402, {"Request-Id": f"req_{secrets.token_hex(6)}"}, json.dumps({"error": error})
        return 200, {}, json.dumps(intent)

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
