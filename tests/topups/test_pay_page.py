from decimal import Decimal

import pytest
from djmoney.money import Money

from tests.factories import (
    EnterpriseMemberAccountFactory,
    PendingTopUpFactory,
    PostpaidAccountFactory,
    UserFactory,
)
from tests.helpers import hidden_fields
from topups.models import SandboxCheckout, TopUp

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "raw, message",
    [
        ("-1", "must be positive"),
        ("0", "greater than zero"),
        ("0.00", "greater than zero"),
        ("0.001", "at most 2 decimals"),
        ("1e3", "Enter the amount in digits"),
        ("NaN", "Enter the amount in digits"),
        ("Infinity", "Enter the amount in digits"),
        ("-Infinity", "must be positive"),
        ("99999999999999999999", "The amount is too large."),
        ("123456789012.00", "maximum for one top-up"),
        ("10,50", "Use a dot for decimals"),
        ("1,000", "Use a dot for decimals"),
        ("１００", "Type the amount in half-width digits (0–9)"),  # full-width digits
        ("٣٠٠", "Enter the amount in digits"),  # Arabic-Indic digits
        ("100 USD", "Enter the amount in digits"),
        ("0x10", "Enter the amount in digits"),
        ("1.", "Enter the amount in digits"),
        (".5", "Enter the amount in digits"),
        ("", "required"),
        ("   ", "required"),
        ("5", "minimum top-up is 10.00"),
        ("50000.01", "maximum for one top-up is 50,000.00"),
    ],
)
def test_a_bad_amount_is_a_field_error_and_creates_nothing(client, alice, raw, message):
    response = client.post("/billing/pay/", {"amount": raw})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not TopUp.objects.exists()


def test_a_good_amount_creates_a_pending_topup_and_redirects_303_to_the_gateway(client, alice):
    response = client.post("/billing/pay/", {"amount": " 120.50 "})
    topup = TopUp.objects.get()
    assert response.status_code == 303
    assert response["Location"] == topup.checkout_url == f"/sandbox-gateway/checkout/{topup.gateway_session_id}/"
    assert topup.status == TopUp.Status.PENDING
    assert topup.amount == topup.credit_amount == Money(Decimal("120.50"), "USD")
    assert topup.created_by == alice and topup.account == alice.account
    session = SandboxCheckout.objects.get(session_id=topup.gateway_session_id)
    assert session.amount == topup.amount and session.reference == str(topup.public_id)
    assert session.success_url.endswith(f"/billing/topups/{topup.public_id}/")


def test_the_daily_limit_counts_pending_and_credited_topups_of_the_last_24_hours(client, alice, settings):
    settings.TOPUP_LIMITS = {**settings.TOPUP_LIMITS, "USD": (Decimal(10), Decimal(50000), Decimal("1000.00"))}
    PendingTopUpFactory(account=alice.account, created_by=alice, amount=Money("600", "USD"))
    PendingTopUpFactory(account=alice.account, created_by=alice, amount=Money("900", "USD"), status=TopUp.Status.FAILED)
    response = client.post("/billing/pay/", {"amount": "400.01"})
    assert response.status_code == 400
    assert "You can top up at most 400.00 USD more today" in response.content.decode()
    assert client.post("/billing/pay/", {"amount": "400.00"}).status_code == 303


@pytest.mark.parametrize(
    "factory, words",
    [
        (PostpaidAccountFactory, "Make a repayment against your bills"),
        (EnterpriseMemberAccountFactory, "funded by its enterprise master account"),
    ],
)
def test_accounts_that_cannot_top_up_see_why_and_a_forged_post_is_refused(client, factory, words):
    user = UserFactory(account=factory())
    client.force_login(user)
    page = client.get("/billing/pay/")
    assert page.status_code == 200
    assert words in page.content.decode()
    assert 'name="amount"' not in page.content.decode()

    forged = client.post("/billing/pay/", {"amount": "100.00"})
    assert forged.status_code == 403
    assert words in forged.content.decode()
    assert not TopUp.objects.exists()


def test_the_pay_page_needs_a_signed_in_customer(client):
    response = client.get("/billing/pay/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_post_without_a_csrf_token_is_refused(alice):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/billing/pay/", {"amount": "100"}).status_code == 403
    assert not TopUp.objects.exists()


def test_staff_are_sent_to_the_admin_and_users_without_an_account_get_a_404(client):
    client.force_login(UserFactory(account=None, is_staff=True))
    for url in ("/billing/", "/billing/pay/", "/billing/topups/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == "/admin/"
    client.force_login(UserFactory(account=None))
    assert client.get("/billing/pay/").status_code == 404
    assert client.post("/billing/pay/", {"amount": "100"}).status_code == 404


def test_signing_out_lands_on_the_sign_in_page_with_a_message(client, alice):
    response = client.post("/logout/", follow=True)
    assert response.redirect_chain[-1][0] == "/login/"
    assert "You have signed out of Billing Center." in response.content.decode()
    assert client.get("/logout/").status_code == 405  # a link or an image cannot sign anyone out


def test_the_pay_page_renders_a_one_time_key_that_makes_a_resubmission_find_the_first_topup(client, alice):
    first_page, second_page = hidden_fields(client.get("/billing/pay/")), hidden_fields(client.get("/billing/pay/"))
    assert first_page["request_key"] and first_page["request_key"] != second_page["request_key"]
    a = client.post("/billing/pay/", {**first_page, "amount": "20"})
    b = client.post("/billing/pay/", {**first_page, "amount": "20"})
    assert a["Location"] == b["Location"] and TopUp.objects.count() == 1


def test_a_second_click_while_the_first_is_still_opening_the_checkout_shows_opening(client, alice):
    """The first request created the top-up but has not stored the gateway session yet."""
    from topups.checkout import create_topup

    create_topup(account_id=alice.account_id, actor=alice, amount=Money("20", "USD"), request_key="dbl")
    response = client.post("/billing/pay/", {"amount": "20", "request_key": "dbl"}, follow=True)
    page = response.content.decode()
    assert "Opening the payment page" in page and "http-equiv" not in page
    # It asks again every second by script (topups.return_status), not by reloading itself.
    assert 'data-poll-ms="1000"' in page and "js/topup-status.js" in page
    assert TopUp.objects.count() == 1
