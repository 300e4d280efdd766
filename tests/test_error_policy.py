"""One error policy and one parser: what outside checks found, each a test."""

import json
from decimal import Decimal

import pytest
from django.utils import translation
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.models import UsageCharge
from accounts.usage_api.tokens import create_service_token
from billing_center.errors import status_for
from money.errors import BillingError, Conflict, CurrencyMismatch, Invalid, NotFound, Refused, Unavailable
from money.parsing import parse_amount, parse_code, parse_id
from money.rates import QuoteExpired, RateUnavailable
from tests.factories import PrepaidAccountFactory
from tests.tickets.conftest import clerk, finance_group  # noqa: F401  (fixtures)
from tickets.exceptions import CertificateStorageUnavailable, TicketNotAllowed, TicketStateError
from topups.exceptions import GatewayUnavailable, TopUpLimitExceeded


@pytest.mark.parametrize(
    "error, status",
    [
        (BillingError("x"), 400),
        (Invalid("x"), 400),
        (CurrencyMismatch("x"), 400),
        (TopUpLimitExceeded("x"), 400),
        (Refused("x"), 403),
        (TicketNotAllowed("x"), 403),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (TicketStateError("x"), 409),
        (QuoteExpired("x"), 409),
        (Unavailable("x"), 503),
        (GatewayUnavailable("x"), 503),
        (RateUnavailable("x"), 503),
        (CertificateStorageUnavailable("x"), 503),
    ],
)
def test_each_kind_of_error_has_one_status(error, status):
    assert status_for(error) == status


@pytest.mark.parametrize(
    "raw", ["1e3", "1E+2", "１００", "١٠٠", "²", "NaN", "-5", "+5", " 1 0", "0x10", "1_000", "", "1.", ".5"]
)
def test_the_amount_parser_takes_plain_ascii_digits_only(raw):
    with pytest.raises(Invalid):
        parse_amount(raw, "USD")


@pytest.mark.parametrize(
    ("raw", "maximum", "english", "chinese"),
    [
        (
            "１００",
            None,
            "Type the amount in half-width digits (0–9), e.g. 100 or 99.50.",
            "请用半角数字（0–9）输入金额",
        ),
        ("99．50", None, "half-width digits", "半角数字"),
        ("1" * 13, None, "The amount is too large.", "金额过大。"),
        ("99999999999999999999.00", Decimal("50000"), "The amount can be at most 50000.", "50000"),
    ],
)
def test_digits_typed_full_width_or_too_many_are_named_as_such(raw, maximum, english, chinese):
    """They are digits: "enter the amount in digits" had told a Chinese keyboard's user, and someone who typed
    a hundred billion, that they had not typed any."""
    for language, expected in (("en", english), ("zh-hans", chinese)):
        with translation.override(language), pytest.raises(Invalid) as refused:
            parse_amount(raw, "USD", maximum=maximum)
        assert expected in refused.value.message


def test_the_amount_parser_keeps_exact_amounts_and_the_currencys_places():
    assert str(parse_amount("12.340", "USD")) == "12.340"
    assert parse_amount(15, "JPY") == 15
    with pytest.raises(Invalid):
        parse_amount("12.345", "USD")
    with pytest.raises(Invalid):
        parse_amount("100.0", "JPY")


@pytest.mark.parametrize("raw", ["８６８５９７", "86859", "8685970", "86 597", "a86859"])
def test_a_code_is_exactly_its_length_in_ascii_digits(raw):
    with pytest.raises(Invalid):
        parse_code(raw, length=6)


@pytest.mark.parametrize("raw", [True, "-1", "１", "9" * 20, 2**63, 1.0, None])
def test_an_id_is_a_bounded_whole_number_of_ascii_digits(raw):
    with pytest.raises(Invalid):
        parse_id(raw)


@pytest.fixture
def funded(db):
    account = PrepaidAccountFactory()
    post_ledger_entry(account_id=account.pk, amount=Money("5000.00", "USD"), kind="adjustment", source_ref="seed")
    return account


@pytest.mark.django_db
@pytest.mark.parametrize("number", ["1e3", "1E+2", "1.0e2", "2E1"])
def test_an_amount_sent_as_a_json_number_in_exponent_form_is_refused(client, funded, number):
    token = create_service_token(service="metering", name="t")[1]
    body = f'{{"account": {funded.pk}, "amount": {number}, "currency": "USD", "idempotency_key": "k"}}'
    response = client.post(
        "/api/v1/charges", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_amount"
    assert not UsageCharge.objects.exists()


@pytest.mark.django_db
def test_an_amount_sent_as_a_plain_json_number_is_taken(client, funded):
    token = create_service_token(service="metering", name="t")[1]
    body = f'{{"account": {funded.pk}, "amount": 12.5, "currency": "USD", "idempotency_key": "k"}}'
    response = client.post(
        "/api/v1/charges", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 201
    assert UsageCharge.objects.get().amount == Money("12.50", "USD")


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/charges/", "/api/v1/nothing", "/api/v1/charges/batch/"])
def test_every_answer_under_the_api_is_json_even_for_an_unknown_path(method, path):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)  # as a real client: no CSRF token
    if method == "get":
        response = client.get(path)
    else:
        response = getattr(client, method)(path, data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_requests_refused_before_any_view_are_json_under_the_api(client, settings):
    nul = client.get("/api/v1/charges%00")
    assert nul.status_code == 400
    assert nul.json()["error"]["code"] == "bad_request"
    settings.MAX_REQUEST_BYTES = 100
    big = client.post("/api/v1/charges", data=json.dumps({"x": "y" * 200}), content_type="application/json")
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "too_large"


@pytest.mark.django_db
def test_admin_sign_in_refuses_a_code_typed_in_full_width_digits(client, clerk):  # noqa: F811
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.helpers import current_otp

    device = TOTPDevice.objects.create(user=clerk, name="phone", confirmed=True)
    good = current_otp(device)
    full_width = good.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    form = {"username": clerk.username, "password": "secret-pass-123", "next": "/admin/"}
    refused = client.post("/admin/login/", {**form, "otp_token": full_width})
    assert refused.status_code == 200
    assert "plain digits" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    signed_in = client.post("/admin/login/", {**form, "otp_token": good})
    assert signed_in.status_code == 302


def test_an_admin_add_or_change_page_sent_with_errors_answers_400_and_writes_nothing(admin_client):
    """Django's admin shows a refused form with a 200; ours answer 400 like every other refused form,
    on our models' pages and the libraries' alike (here auth's groups)."""
    from django.contrib.auth.models import Group

    refused = admin_client.post("/admin/auth/group/add/", {"name": ""})
    assert refused.status_code == 400 and b"errornote" in refused.content and not Group.objects.exists()
    assert admin_client.post("/admin/auth/group/add/", {"name": "Auditors"}).status_code == 302
    group = Group.objects.get()
    assert admin_client.post(f"/admin/auth/group/{group.pk}/change/", {"name": ""}).status_code == 400
    assert admin_client.get(f"/admin/auth/group/{group.pk}/change/").status_code == 200
    group.refresh_from_db()
    assert group.name == "Auditors"
