"""The alert sweep over many accounts, and the batch usage-charge endpoint's throughput.

Run by hand (not in CI), against PostgreSQL:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_center \
        .venv/bin/python bench/alerts_and_charges.py --accounts 100000 --batches 10

It creates and drops its own database (bench_billing_center). Prints: the time of one
sweep pass over --accounts accounts with alerts on (1% of them below their threshold, so
the sweep fires that many alerts and queues their SMS), the time of a second pass that
finds nothing, and charges/s through POST /api/v1/charges/batch (1,000 per call, spread
over 10,000 accounts, in-process WSGI with all middleware), with queries per batch.
Issue #7 folds this into `make bench`.
"""

import argparse
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_center.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from djmoney.money import Money  # noqa: E402

from accounts.alerts import sweep_balance_alerts  # noqa: E402
from accounts.models import Account, AlertRecipient, BalanceAlert, LedgerEntry, OutboundSms  # noqa: E402
from accounts.notifications import broker_breaker  # noqa: E402
from accounts.usage_api.tokens import create_service_token  # noqa: E402


def make_accounts(count: int) -> None:
    """Bulk rows with alerts on; every 100th is below its threshold and armed."""
    batch = []
    for i in range(count):
        below = i % 100 == 0
        batch.append(
            Account(
                name=f"Bench {i}",
                balance=Money("40.00" if below else "500.00", "USD"),
                alert_enabled=True,
                alert_threshold=Decimal("50.00"),
                alert_armed=True,
            )
        )
        if len(batch) == 10_000:
            Account.objects.bulk_create(batch)
            batch = []
    Account.objects.bulk_create(batch)
    below_ids = Account.objects.filter(balance__lt=50).values_list("pk", flat=True)
    AlertRecipient.objects.bulk_create(
        [
            AlertRecipient(
                account_id=pk, kind="sms", address="+8613800138000", confirmed_at=django.utils.timezone.now()
            )
            for pk in below_ids
        ]
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = "bench_billing_center"
    broker_breaker.trip(for_seconds=3600)  # no broker here: leave tasks to the sweeps
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        make_accounts(args.accounts)
        if connection.vendor == "postgresql":
            connection.cursor().execute("ANALYZE")
        started = time.perf_counter()
        fired = sweep_balance_alerts()
        first = time.perf_counter() - started
        started = time.perf_counter()
        again = sweep_balance_alerts()
        second = time.perf_counter() - started
        print(
            f"alert sweep over {args.accounts:,} accounts: {first:.2f} s firing {fired:,} alerts "
            f"({OutboundSms.objects.count():,} SMS queued); second pass {second:.3f} s, {again} fired"
        )
        assert BalanceAlert.objects.count() == fired

        targets = list(Account.objects.order_by("pk").values_list("pk", flat=True)[:10_000])
        token = create_service_token(service="bench", name="bench")[1]
        client = Client()
        total, elapsed, queries = 0, 0.0, []
        for b in range(args.batches):
            body = {
                "charges": [
                    {
                        "account": targets[(b * 1000 + i) % len(targets)],
                        "amount": "0.25",
                        "currency": "USD",
                        "idempotency_key": f"b{b}-{i}",
                    }
                    for i in range(1000)
                ]
            }
            data = json.dumps(body)
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.post(
                    "/api/v1/charges/batch",
                    data=data,
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {token}",
                )
                elapsed += time.perf_counter() - started
            assert response.status_code == 200 and response.json()["created"] == 1000, response.content[:300]
            total += 1000
            queries.append(len(captured.captured_queries))
        print(
            f"batch charges: {total:,} in {elapsed:.2f} s = {total / elapsed:,.0f} charges/s "
            f"(1,000 per call over {len(targets):,} accounts; {min(queries)}–{max(queries)} queries per batch)"
        )
        # The bench's accounts start with balances but no entries, so check the charges alone.
        debited = LedgerEntry.objects.filter(kind="usage").aggregate(total=Sum("amount"))["total"]
        assert Decimal(str(debited)) == Decimal("-0.25") * total
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
