"""Rough crediting throughput: signed Stripe webhooks through the full Django stack.

Run by hand (not in CI), ideally against PostgreSQL:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_center \
        .venv/bin/python bench/credits_per_second.py --topups 2000 --threads 4

It creates and drops its own test database. Prints deliveries/s and credits/s through
the webhook view (in-process WSGI, all middleware, one DB connection per thread), the
same figure for the bare ledger service, their ratio, and queries per delivery.
Issue #7 replaces this with real HTTP against gunicorn next to pgbench.
"""

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_center.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from djmoney.money import Money  # noqa: E402

from accounts.models import Account, LedgerEntry, User  # noqa: E402
from accounts.services import ledger_mismatches, post_ledger_entry  # noqa: E402
from tests.fakes.stripe import event, paid_session, signed  # noqa: E402
from topups.models import TopUp  # noqa: E402


def post_all(items, threads: int) -> float:
    queue = list(items)
    lock = threading.Lock()
    failures = []

    def work():
        client = Client()
        while True:
            with lock:
                if not queue:
                    break
                body, signature = queue.pop()
            response = client.post(
                "/webhooks/stripe/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
            )
            if response.status_code != 200:
                failures.append(response.status_code)
        connection.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} deliveries failed: {sorted(set(failures))}")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--topups", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--duplicates", type=float, default=0.3)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    settings.STRIPE_SECRET_KEY = "sk_test_bench"
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_test_current"]
    settings.DEBUG = False
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        user = User.objects.create(username="bench")
        accounts = Account.objects.bulk_create(
            [Account(name=f"Bench {i}", balance=Money(0, "USD")) for i in range(args.accounts)]
        )
        topups = TopUp.objects.bulk_create(
            [
                TopUp(
                    account=accounts[i % len(accounts)],
                    created_by=user,
                    gateway="stripe",
                    amount=Money("10.00", "USD"),
                    credit_amount=Money("10.00", "USD"),
                    gateway_session_id=f"cs_bench_{i}",
                )
                for i in range(args.topups)
            ]
        )
        deliveries = [signed(event("checkout.session.completed", paid_session(t))) for t in topups]
        deliveries += random.Random(7).sample(deliveries, int(len(deliveries) * args.duplicates))
        random.Random(8).shuffle(deliveries)

        webhook_seconds = post_all(deliveries, args.threads)
        credits = LedgerEntry.objects.count()
        assert credits == args.topups, (credits, args.topups)
        assert ledger_mismatches() == []

        # Queries for one more credit and one duplicate, through the view.
        extra = TopUp.objects.create(
            account=accounts[0],
            created_by=user,
            gateway="stripe",
            amount=Money("10.00", "USD"),
            credit_amount=Money("10.00", "USD"),
            gateway_session_id="cs_bench_extra",
        )
        body, signature = signed(event("checkout.session.completed", paid_session(extra)))
        client = Client()
        counts = []
        for _ in range(2):
            with CaptureQueriesContext(connection) as ctx:
                client.post(
                    "/webhooks/stripe/", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
                )
            counts.append(len(ctx.captured_queries))
            if os.environ.get("BENCH_SHOW_QUERIES"):
                print("\n".join(q["sql"][:110] for q in ctx.captured_queries), "\n---")

        # The bare ledger service, same accounts, same thread count.
        n = args.topups
        started = time.perf_counter()
        lock, todo = threading.Lock(), list(range(n))

        def ledger_work():
            while True:
                with lock:
                    if not todo:
                        break
                    i = todo.pop()
                post_ledger_entry(
                    account_id=accounts[i % len(accounts)].pk,
                    amount=Money("1.00", "USD"),
                    kind="adjustment",
                    source_ref=f"bench:{i}",
                )
            connection.close()

        workers = [threading.Thread(target=ledger_work) for _ in range(args.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        ledger_seconds = time.perf_counter() - started

        webhook_rate, ledger_rate = args.topups / webhook_seconds, n / ledger_seconds
        print(
            f"database: {connection.vendor}, threads: {args.threads}, top-ups: {args.topups}, "
            f"deliveries: {len(deliveries)} ({args.duplicates:.0%} duplicates), accounts: {args.accounts}"
        )
        print(f"webhook path: {len(deliveries) / webhook_seconds:8.1f} deliveries/s  {webhook_rate:8.1f} credits/s")
        print(f"ledger only:  {ledger_rate:8.1f} credits/s")
        print(f"ratio webhook/ledger: {webhook_rate / ledger_rate:.2f}")
        print(f"queries per delivery: {counts[0]} (credit), {counts[1]} (duplicate)")
        print("ledger verified: every balance equals the sum of its entries")
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
