"""The sandbox gateway goes through the same verification and crediting path as Stripe."""

import time

import pytest
from djmoney.money import Money

from accounts.models import LedgerEntry
from topups.gateways import signing
from topups.gateways.sandbox import notification_body
from topups.models import SandboxCheckout, TopUp
from tests.factories import UserFactory

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
    headers = {"HTTP_SANDBOX_SIGNATURE": signature} if signature else {}
    return client.post("/webhooks/sandbox/", data=body, content_type="application/json", **headers)


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
    SandboxCheckout.objects.filter(pk=session.pk).update(status=SandboxCheckout.Status.PAID, amount=Money("6.40", "USD"))
    session.refresh_from_db()
    body = notification_body(session)
    assert post(client, body, signing.sign(body, SECRET)).json()["verdict"] == "flagged"
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
