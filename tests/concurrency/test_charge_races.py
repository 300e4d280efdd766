"""The usage-charge API raced on PostgreSQL: over HTTP (in-process WSGI), threads released together."""

import json

import pytest
from django.test import Client
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.models import LedgerEntry, UsageCharge
from accounts.usage_api.tokens import create_service_token
from accounts.verification import ledger_mismatches
from tests.concurrency.test_races import race
from tests.factories import PrepaidAccountFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post(token: str, path: str, body) -> tuple[int, dict]:
    response = Client().post(
        path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    return response.status_code, response.json()


def funded_account(amount="100.00"):
    account = PrepaidAccountFactory(balance=Money(0, "USD"))
    post_ledger_entry(
        account_id=account.pk, amount=Money(amount, "USD"), kind="adjustment", source_ref=f"s{account.pk}"
    )
    return account


def test_one_key_raced_twenty_times_debits_once_and_every_caller_gets_the_same_charge():
    token = create_service_token(service="metering", name="t")[1]
    account = funded_account()
    body = {"account": account.pk, "amount": "7.50", "currency": "USD", "idempotency_key": "hour-42"}
    results = race([lambda: post(token, "/api/v1/charges", body)] * 20)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 19 + [201]
    assert len({payload["charge"]["id"] for _, payload in results}) == 1
    account.refresh_from_db()
    assert account.balance == Money("92.50", "USD") and UsageCharge.objects.count() == 1


def test_overlapping_batches_raced_post_each_key_once():
    token = create_service_token(service="metering", name="t")[1]
    accounts = [funded_account() for _ in range(5)]

    def batch(offset: int):
        charges = [
            {"account": accounts[i % 5].pk, "amount": "1.00", "currency": "USD", "idempotency_key": f"k{i}"}
            for i in range(offset, offset + 200)
        ]
        return lambda: post(token, "/api/v1/charges/batch", {"charges": charges})

    # Four batches, each overlapping the next by half: 500 distinct keys in all.
    results = race([batch(0), batch(100), batch(200), batch(300)])
    assert [status for status, _ in results] == [200] * 4
    assert sum(payload["created"] for _, payload in results) == 500
    assert sum(payload["duplicate"] for _, payload in results) == 300
    assert UsageCharge.objects.count() == 500 and LedgerEntry.objects.filter(kind="usage").count() == 500
    assert ledger_mismatches() == []
