"""POST /api/v1/charges, /api/v1/charges/batch and GET /api/v1/accounts/<id>/balance:
idempotency, every bad input a clear 4xx JSON error, and tokens."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.models import LedgerEntry, UsageCharge
from accounts.usage_api.tokens import create_service_token, revoke_service_token
from accounts.verification import ledger_mismatches
from tests.factories import PrepaidAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def token():
    return create_service_token(service="metering", name="Metering (test)")[1]


@pytest.fixture
def account():
    account = PrepaidAccountFactory(balance=Money(0, "USD"))
    post_ledger_entry(account_id=account.pk, amount=Money("100.00", "USD"), kind="adjustment", source_ref="seed")
    return account


def post(client, token, path, body, **headers):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(
        path, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}", **headers
    )


def charge(account, key="k1", amount="12.34", currency="USD", description="ecs.c6.large 1h"):
    return {
        "account": account.pk,
        "amount": amount,
        "currency": currency,
        "idempotency_key": key,
        "description": description,
    }


def test_a_charge_debits_once_and_the_same_key_returns_the_original(client, token, account):
    first = post(client, token, "/api/v1/charges", charge(account))
    assert first.status_code == 201
    body = first.json()
    assert body["outcome"] == "created" and body["charge"]["amount"] == "12.34"
    assert body["charge"]["balance_after"] == "87.66"
    again = post(client, token, "/api/v1/charges", charge(account))
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert again.json()["charge"] == body["charge"]
    account.refresh_from_db()
    assert account.balance == Money("87.66", "USD")
    assert LedgerEntry.objects.filter(kind="usage").count() == 1


def test_the_same_key_with_a_different_body_is_a_409(client, token, account):
    post(client, token, "/api/v1/charges", charge(account))
    for changed in (charge(account, amount="12.35"), charge(account, description="other")):
        response = post(client, token, "/api/v1/charges", changed)
        assert response.status_code == 409 and response.json()["error"]["code"] == "idempotency_key_reused"
    # Same amount written differently is the same body.
    assert post(client, token, "/api/v1/charges", charge(account, amount="12.340")).status_code == 200


def test_balances_may_go_below_zero_and_the_api_says_so(client, token, account):
    post(client, token, "/api/v1/charges", charge(account, amount="150.00"))
    response = client.get(f"/api/v1/accounts/{account.pk}/balance", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response.json() | {"as_of": None} == {
        "account": account.pk,
        "balance": "-50.00",
        "currency": "USD",
        "in_arrears": True,
        "as_of": None,
    }


@pytest.mark.parametrize(
    "body, status, code",
    [
        ("{not json", 400, "bad_json"),
        ("[1, 2]", 400, "bad_request"),
        ('{"amount": NaN}', 400, "bad_json"),
        ({"amount": "-1"}, 400, "bad_amount"),
        ({"amount": "0"}, 400, "bad_amount"),
        ({"amount": "1e3"}, 400, "bad_amount"),
        ({"amount": "12.345"}, 400, "bad_amount"),
        ({"amount": True}, 400, "bad_amount"),
        ({"amount": "99999999999"}, 400, "bad_amount"),
        ({"currency": "XXX"}, 400, "bad_currency"),
        ({"currency": "EUR"}, 400, "currency_mismatch"),
        ({"account": 999999}, 404, "unknown_account"),
        ({"account": "1 OR 1=1"}, 400, "bad_account"),
        ({"account": None}, 400, "bad_account"),
        ({"idempotency_key": ""}, 400, "bad_idempotency_key"),
        ({"idempotency_key": "k" * 101}, 400, "bad_idempotency_key"),
        ({"idempotency_key": "line\nbreak"}, 400, "bad_idempotency_key"),
        ({"description": "x" * 301}, 400, "bad_description"),
        ({"description": 5}, 400, "bad_description"),
    ],
)
def test_bad_input_is_a_clear_4xx_json_error_and_moves_no_money(client, token, account, body, status, code):
    if isinstance(body, dict):
        body = {**charge(account), **body}
    response = post(client, token, "/api/v1/charges", body)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert not UsageCharge.objects.exists()
    account.refresh_from_db()
    assert account.balance == Money("100.00", "USD")


@pytest.mark.parametrize(
    "body, said",
    [
        pytest.param(
            '{{"account": {pk}, "account": {other}, "amount": "0.01", "currency": "USD", "idempotency_key": "dup"}}',
            "the key 'account' appears twice in one object",
            id="a-second-account-had-silently-won",
        ),
        pytest.param(
            '{{"account": {pk}, "amount": "0.01", "currency": "USD", "idempotency_key": "big", "n": '
            + "9" * 5000
            + "}}",
            "a number has too many digits",
            id="python's-limit-had-named-sys.set_int_max_str_digits",
        ),
        pytest.param("{{not json", "Expecting property name enclosed in double quotes at line 1, column 2", id="json"),
    ],
)
def test_an_ambiguous_or_unreadable_body_is_refused_in_the_bodys_own_terms(client, token, account, body, said):
    other = PrepaidAccountFactory().pk
    response = post(client, token, "/api/v1/charges", body.format(pk=account.pk, other=other))
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_json"
    assert said in response.json()["error"]["message"] and "sys." not in response.json()["error"]["message"]
    assert not UsageCharge.objects.exists()


def test_float_amounts_are_read_as_decimals(client, token, account):
    response = post(
        client,
        token,
        "/api/v1/charges",
        f'{{"account": {account.pk}, "amount": 0.1, "currency": "USD", "idempotency_key": "f"}}',
    )
    assert response.status_code == 201
    assert UsageCharge.objects.get().amount == Money(Decimal("0.10"), "USD")


def test_tokens_missing_wrong_or_revoked_mid_stream_are_401(client, account):
    token, plain = create_service_token(service="metering", name="t")
    assert (
        client.post("/api/v1/charges", data=json.dumps(charge(account)), content_type="application/json").status_code
        == 401
    )
    assert post(client, "bc_wrong", "/api/v1/charges", charge(account)).status_code == 401
    response = client.post(
        "/api/v1/charges",
        data=json.dumps(charge(account)),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {plain}",
    )
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert post(client, plain, "/api/v1/charges", charge(account, key="a")).status_code == 201
    revoke_service_token(token_id=token.pk)
    assert post(client, plain, "/api/v1/charges", charge(account, key="b")).status_code == 401
    assert client.get(f"/api/v1/accounts/{account.pk}/balance", HTTP_AUTHORIZATION=f"Bearer {plain}").status_code == 401
    assert UsageCharge.objects.count() == 1


def test_wrong_methods_and_content_types_are_4xx(client, token, account):
    assert client.get("/api/v1/charges", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 405
    response = client.post("/api/v1/charges", data={"a": "b"}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400


def test_keys_are_scoped_to_the_service(client, account):
    metering = create_service_token(service="metering", name="m")[1]
    storage = create_service_token(service="storage", name="s")[1]
    assert post(client, metering, "/api/v1/charges", charge(account, key="same")).status_code == 201
    assert post(client, storage, "/api/v1/charges", charge(account, key="same")).status_code == 201
    assert UsageCharge.objects.count() == 2


def test_a_batch_posts_good_charges_reports_bad_ones_and_handles_duplicates(client, token, account):
    other = PrepaidAccountFactory(balance=Money(0, "USD"))
    post(client, token, "/api/v1/charges", charge(account, key="earlier", amount="1.00"))
    batch = {
        "charges": [
            charge(account, key="b1", amount="2.00"),
            charge(other, key="b2", amount="3.00"),
            charge(account, key="b1", amount="2.00"),  # duplicate inside the batch
            charge(account, key="b3", amount="-4"),  # bad
            charge(account, key="earlier", amount="1.00"),  # duplicate of an earlier call
            charge(account, key="earlier", amount="9.00"),  # same key, different body
            charge(account, key="b4", currency="EUR"),
            {"idempotency_key": "b5"},
            "not an object",
        ]
    }
    response = post(client, token, "/api/v1/charges/batch", batch)
    assert response.status_code == 200
    body = response.json()
    outcomes = [(r["idempotency_key"], r["outcome"], r.get("error", {}).get("code")) for r in body["results"]]
    assert outcomes == [
        ("b1", "created", None),
        ("b2", "created", None),
        ("b1", "duplicate", None),
        ("b3", "error", "bad_amount"),
        ("earlier", "duplicate", None),
        ("earlier", "error", "idempotency_key_reused"),
        ("b4", "error", "currency_mismatch"),
        ("b5", "error", "bad_account"),
        ("", "error", "bad_request"),
    ]
    assert (body["created"], body["duplicate"], body["error"]) == (2, 2, 5)
    account.refresh_from_db()
    other.refresh_from_db()
    assert account.balance == Money("97.00", "USD") and other.balance == Money("-3.00", "USD")
    # The same batch again: nothing new.
    again = post(client, token, "/api/v1/charges/batch", batch).json()
    assert again["created"] == 0 and again["duplicate"] == 4
    assert ledger_mismatches() == []


def test_a_key_refused_earlier_in_a_batch_is_not_taken_by_a_later_charge(client, token, account):
    """The key's first use was refused (an account that does not exist, another currency, a malformed charge);
    a later charge under it with another body is a reused key, and the same charge again the same refusal —
    the first call and its retry answer alike. The later charge had been posted under the refused key, and
    its retry said "duplicate" (found by a helper)."""
    batch = {
        "charges": [
            charge(account, key="K1", amount="1.00") | {"account": 999_999},
            charge(account, key="K1", amount="1.00"),
            charge(account, key="K2", currency="EUR"),
            charge(account, key="K2", currency="EUR"),
            charge(account, key="K2", amount="1.00"),
            charge(account, key="K3", amount="-4"),
            charge(account, key="K3", amount="4.00"),
        ]
    }
    expected = [
        ("K1", "error", "unknown_account"),
        ("K1", "error", "idempotency_key_reused"),
        ("K2", "error", "currency_mismatch"),
        ("K2", "error", "currency_mismatch"),
        ("K2", "error", "idempotency_key_reused"),
        ("K3", "error", "bad_amount"),
        ("K3", "error", "idempotency_key_reused"),
    ]
    for _call in ("first", "retry"):
        body = post(client, token, "/api/v1/charges/batch", batch).json()
        outcomes = [(r["idempotency_key"], r["outcome"], r.get("error", {}).get("code")) for r in body["results"]]
        assert outcomes == expected
    account.refresh_from_db()
    assert account.balance == Money("100.00", "USD") and not UsageCharge.objects.exists()


def test_a_batch_over_the_limit_or_empty_is_refused(client, token, account):
    too_many = {"charges": [charge(account, key=f"k{i}", amount="0.01") for i in range(1001)]}
    response = post(client, token, "/api/v1/charges/batch", too_many)
    assert response.status_code == 413 and response.json()["error"]["code"] == "batch_too_large"
    for body in ({"charges": []}, {}, []):
        assert post(client, token, "/api/v1/charges/batch", body).status_code == 400
    assert not UsageCharge.objects.exists()


def test_a_full_batch_of_a_thousand_posts_in_one_call(client, token, account, django_assert_max_num_queries):
    accounts = [PrepaidAccountFactory(balance=Money(0, "USD")) for _ in range(10)]
    batch = {"charges": [charge(accounts[i % 10], key=f"h{i}", amount="0.05") for i in range(1000)]}
    with django_assert_max_num_queries(40):
        response = post(client, token, "/api/v1/charges/batch", batch)
    assert response.json()["created"] == 1000
    accounts[0].refresh_from_db()
    assert accounts[0].balance == Money("-5.00", "USD")
    assert ledger_mismatches() == []


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"account": "²"}, 400, "bad_account"),
        ({"account": "١"}, 400, "bad_account"),
        ('{"account": 1, "amount": 1e-999999999999, "currency": "USD", "idempotency_key": "z"}', 400, "bad_amount"),
        ({"amount": "1." + "0" * 129 + "1"}, 400, "bad_amount"),
    ],
)
def test_unicode_digits_and_vanishing_amounts_are_400_not_500(client, token, account, body, status, code):
    if isinstance(body, dict):
        body = {**charge(account), **body}
    response = post(client, token, "/api/v1/charges", body)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    batch = post(
        client,
        token,
        "/api/v1/charges/batch",
        {
            "charges": [
                charge(account, key="ok"),
                body if isinstance(body, dict) else json.loads(body.replace("1e-999999999999", '"x"')),
            ]
        },
    )
    assert batch.status_code == 200 and batch.json()["created"] == 1


def test_every_api_answer_is_json(client, token, account):
    for method in ("put", "delete", "patch"):
        response = getattr(client, method)("/api/v1/charges", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
    for path in ("/api/v1/accounts/-1/balance", "/api/v1/charges/", "/api/v1/nothing"):
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    huge = json.dumps({"charges": [charge(account, key=f"k{i}", description="x" * 300) for i in range(20000)]})
    response = post(client, token, "/api/v1/charges/batch", huge)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


def test_a_tokens_last_use_is_written_once_a_minute_not_on_every_call(client, account):
    """Admin shows when a token was last used, to the minute: a busy service writes the token's row
    (a commit) at most once a minute, not on every call."""
    token, plain = create_service_token(service="metering", name="busy")
    balance_url = f"/api/v1/accounts/{account.pk}/balance"
    start = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        assert client.get(balance_url, HTTP_AUTHORIZATION=f"Bearer {plain}").status_code == 200
        token.refresh_from_db()
        assert token.last_used_at == start
        with CaptureQueriesContext(connection) as queries:
            for _ in range(3):
                assert client.get(balance_url, HTTP_AUTHORIZATION=f"Bearer {plain}").status_code == 200
        assert not [q for q in queries.captured_queries if "UPDATE" in q["sql"] and "service" in q["sql"]]
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        client.get(balance_url, HTTP_AUTHORIZATION=f"Bearer {plain}")
    token.refresh_from_db()
    assert token.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        client.get(balance_url, HTTP_AUTHORIZATION=f"Bearer {plain}")
    token.refresh_from_db()
    assert token.last_used_at == start + timedelta(seconds=61)
