"""The sandbox gateway goes through the same verification and crediting path as Stripe."""

import time
from decimal import Decimal

import pytest
from djmoney.money import Money

from accounts.models import LedgerEntry
from tests.factories import UserFactory
from tests.intake import apply_stored, verdict_of
from topups.gateways import signing
from topups.gateways.sandbox import notification_body
from topups.models import SandboxCheckout, TopUp

pytestmark = pytest.mark.django_db
SECRET = "whsec_sandbox_local_only"


@pytest.fixture
def started(client):
    user = UserFactory()
    client.force_login(user)
    client.post("/billing/pay/", {"amount": "64.00"})
    topup = TopUp.objects.get()
    return topup, SandboxCheckout.objects.get(session_id=topup.gateway_session_id)


def post(client, body: bytes, signature: str | None):
    """The sandbox posts its notification; then the worker's part: stored deliveries applied."""
    headers = {"HTTP_SANDBOX_SIGNATURE": signature} if signature else {}
    response = client.post("/webhooks/sandbox/", data=body, content_type="application/json", **headers)
    apply_stored()
    return response


def test_the_hosted_page_shows_merchant_amount_and_three_choices(client, started):
    topup, session = started
    page = client.get(f"/sandbox-gateway/checkout/{session.session_id}/").content.decode()
    assert "Billing Center Cloud" in page and "64.00 USD" in page
    for choice in ("Pay 64.00 USD", "Decline payment", "Cancel and return to merchant"):
        assert choice in page


def test_a_signed_paid_notification_credits_once(client, started):
    topup, session = started
    SandboxCheckout.objects.filter(pk=session.pk).update(status=SandboxCheckout.Status.PAID)
    session.refresh_from_db()
    body = notification_body(session)
    for _ in range(2):
        assert post(client, body, signing.sign(body, SECRET)).status_code == 200
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    assert LedgerEntry.objects.get().amount == Money("64.00", "USD")


def test_a_forged_notification_is_refused(client, started):
    topup, session = started
    SandboxCheckout.objects.filter(pk=session.pk).update(status=SandboxCheckout.Status.PAID)
    session.refresh_from_db()
    body = notification_body(session)
    assert post(client, body, None).status_code == 400
    assert post(client, body, signing.sign(body, "guessed-secret")).status_code == 400
    assert post(client, body, signing.sign(body, SECRET, timestamp=int(time.time()) - 3600)).status_code == 400
    assert post(client, b"[]", signing.sign(b"[]", SECRET)).status_code == 400
    assert not LedgerEntry.objects.exists()


def test_a_notification_whose_amount_differs_is_flagged_not_credited(client, started):
    topup, session = started
    SandboxCheckout.objects.filter(pk=session.pk).update(
        status=SandboxCheckout.Status.PAID, amount=Money("6.40", "USD")
    )
    session.refresh_from_db()
    body = notification_body(session)
    assert verdict_of(post(client, body, signing.sign(body, SECRET))) == "flagged"
    topup.refresh_from_db()
    assert topup.needs_review and not LedgerEntry.objects.exists()


def test_a_bogus_outcome_is_a_400(client, started):
    _, session = started
    response = client.post(f"/sandbox-gateway/checkout/{session.session_id}/", {"outcome": "steal"})
    assert response.status_code == 400
    assert client.get("/sandbox-gateway/checkout/sbx_unknown/").status_code == 404


def test_the_sandbox_is_gone_when_another_gateway_is_chosen(client, started, settings):
    _, session = started
    settings.PAYMENT_GATEWAY = "stripe"
    assert client.get(f"/sandbox-gateway/checkout/{session.session_id}/").status_code == 404
    assert client.post("/webhooks/sandbox/", data=b"{}", content_type="application/json").status_code == 404


def test_signing_accepts_what_the_stripe_sdk_signs():
    """Our verifier and Stripe's own library agree on the scheme."""
    import stripe

    body, now = b'{"id": "evt_1"}', int(time.time())
    mac = stripe.WebhookSignature._compute_signature(f"{now}.{body.decode()}", "whsec_x")
    signing.verify(body, f"t={now},v1={mac}", ["whsec_x"], tolerance=300)
    assert signing.sign(body, "whsec_x", timestamp=now) == f"t={now},v1={mac}"


def _event(session, **data_overrides):
    import json

    event = json.loads(notification_body(session))
    event["data"].update(data_overrides)
    return event


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e["data"].update(currency="ZZZ"),
        lambda e: e["data"].update(currency=""),
        lambda e: e["data"].update(amount="sNaN"),
        lambda e: e["data"].update(amount="1e999999"),
        lambda e: e["data"].update(amount="Infinity"),
        lambda e: e["data"].update(amount="10.001"),
        lambda e: e.update(id="x" * 300),
        lambda e: e.update(type="t" * 300),
        lambda e: e["data"].pop("reference"),
    ],
)
def test_signed_but_malformed_events_are_a_400_not_a_500(client, started, mutate):
    import json

    _, session = started
    SandboxCheckout.objects.filter(pk=session.pk).update(status=SandboxCheckout.Status.PAID)
    session.refresh_from_db()
    event = _event(session)
    mutate(event)
    body = json.dumps(event).encode()
    assert post(client, body, signing.sign(body, SECRET)).status_code == 400
    assert not LedgerEntry.objects.exists()


def test_deeply_nested_json_is_a_400(client, stripe_settings):
    body = b"[" * 100_000 + b"]" * 100_000
    assert post(client, body, signing.sign(body, SECRET)).status_code == 400


def test_a_timestamp_with_non_ascii_digits_is_a_400(client, started):
    body = b'{"id": "evt_1"}'
    header = signing.sign(body, SECRET).replace("t=", "t=²", 1)
    assert post(client, body, header).status_code == 400


@pytest.mark.parametrize("field", ["account_ref", "session_id"])
def test_a_notice_that_omits_the_owner_or_session_is_flagged_not_credited(client, started, field):
    import json

    _, session = started
    SandboxCheckout.objects.filter(pk=session.pk).update(status=SandboxCheckout.Status.PAID)
    session.refresh_from_db()
    body = json.dumps(_event(session, **{field: ""})).encode()
    assert verdict_of(post(client, body, signing.sign(body, SECRET))) == "flagged"
    assert not LedgerEntry.objects.exists()


def test_a_known_event_id_with_a_different_body_applies_nothing_new(client, started):
    import json

    topup, session = started
    SandboxCheckout.objects.filter(pk=session.pk).update(status=SandboxCheckout.Status.CANCELLED)
    session.refresh_from_db()
    event = _event(session)
    body = json.dumps(event).encode()
    assert verdict_of(post(client, body, signing.sign(body, SECRET))) == "closed"

    event["type"] = "payment.succeeded"  # same id, now claiming a payment
    body = json.dumps(event).encode()
    assert post(client, body, signing.sign(body, SECRET)).status_code == 200
    delivery = topup.deliveries.get()
    assert "different body" in delivery.error and delivery.delivery_count == 2
    assert not LedgerEntry.objects.exists()


def test_an_expired_checkout_cannot_be_paid_and_stops_counting_towards_the_daily_limit(client, started, settings):
    from datetime import timedelta

    from django.utils import timezone

    topup, session = started
    settings.TOPUP_LIMITS = {**settings.TOPUP_LIMITS, "USD": (Decimal(10), Decimal(50000), Decimal(100))}
    assert client.post("/billing/pay/", {"amount": "40.00"}).status_code == 400  # 64 pending + 40 > 100

    past = timezone.now() - timedelta(minutes=settings.TOPUP_CHECKOUT_TTL_MINUTES + 1)
    SandboxCheckout.objects.filter(pk=session.pk).update(expires_at=past)
    TopUp.objects.filter(pk=topup.pk).update(created_at=past)
    page = client.get(f"/sandbox-gateway/checkout/{session.session_id}/").content.decode()
    assert "closed (expired)" in page and "Pay 64.00 USD" not in page
    client.post(f"/sandbox-gateway/checkout/{session.session_id}/", {"outcome": "pay"})
    session.refresh_from_db()
    assert session.status == SandboxCheckout.Status.OPEN  # the gateway refused the late payment

    assert client.post("/billing/pay/", {"amount": "40.00"}).status_code == 303


def test_the_sandbox_mirrors_a_refund_and_a_retry_names_the_same_refund(client, started, clerk):
    from topups.models import Refund
    from topups.refunds import request_refund, send_refund

    topup, session = started
    SandboxCheckout.objects.filter(pk=session.pk).update(status=SandboxCheckout.Status.PAID)
    session.refresh_from_db()
    body = notification_body(session)
    assert post(client, body, signing.sign(body, SECRET)).status_code == 200
    refund = request_refund(topup_id=topup.pk, amount=Money("14.00", "USD"), reason="", actor=clerk)
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.gateway_refund_id.startswith("sbxre_")
    again = send_refund(refund_id=refund.pk)  # a retry after success changes nothing
    assert again.gateway_refund_id == refund.gateway_refund_id
    topup.account.refresh_from_db()
    assert topup.account.balance == Money("50.00", "USD")
    assert LedgerEntry.objects.filter(kind="refund").count() == 1


def test_a_changed_body_arriving_before_the_worker_applied_the_first_stays_marked(client, started):
    """The worker's success clears a delivery's error: the "different body" note had been lost when the changed
    redelivery came before the first was applied. It is its own mark now, and admin filters by it."""
    import json

    topup, session = started
    SandboxCheckout.objects.filter(pk=session.pk).update(status=SandboxCheckout.Status.PAID)
    session.refresh_from_db()
    event = _event(session)
    first = json.dumps(event).encode()
    event["data"]["amount"] = "9999.00"  # the same id, another amount: never applied
    changed = json.dumps(event).encode()
    for body in (first, changed):  # both stored before the worker runs
        signature = {"HTTP_SANDBOX_SIGNATURE": signing.sign(body, SECRET)}
        response = client.post("/webhooks/sandbox/", data=body, content_type="application/json", **signature)
        assert response.status_code == 200
    apply_stored()
    delivery = topup.deliveries.get()
    assert delivery.verdict == "credited" and delivery.body_changed and delivery.delivery_count == 2
    assert delivery.body == first.decode()
    topup.account.refresh_from_db()
    assert topup.account.balance == Money("64.00", "USD")
