"""Customer pages at a million ledger entries: every page a customer reads, with 1,000,000 entries
in one account ÷ the same page with 100; the queries of each; and the statement's CSV of the
million streamed through gunicorn, with the peak RSS of the worker that served it.

Run alone (also a figure of `make bench`), against PostgreSQL:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_center .venv/bin/python bench/pages.py

Two prepaid enterprise masters with the same shape, 100 and 1,000,000 entries: a metered
history (bench/metered.py: hourly usage charges for 500 resources, one INSERT … SELECT), then
through the ledger writer 30 top-ups, 30 adjustments and two funded members (bench/data.py),
30 tickets, invoices and alerts, and a webhook endpoint that heard every charge and top-up.
Pages are timed in-process (the Django test client, signed in), the two sizes alternating
request by request; each figure is the median of --reps repetitions of --page-requests each.
"""

import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SMALL = 100
WRITER_ENTRIES = 62  # what grow_customer (30 top-ups, 30 adjustments) and two allocations post


@dataclass
class Customer:
    entries: int
    user: object
    paths: dict[str, str]


def customer_pages(args) -> list[tuple]:
    from django.test import Client

    large_size = getattr(args, "ledger_entries", None) or (20_000 if getattr(args, "quick", False) else 1_000_000)
    reps, requests = args.reps, getattr(args, "page_requests", 30)
    started = time.perf_counter()
    small, large = metered_customer("small", SMALL), metered_customer("large", large_size)
    loaded = time.perf_counter() - started
    clients = {}
    for customer in (small, large):
        clients[customer.entries] = Client()
        clients[customer.entries].force_login(customer.user)
    queries = {
        c.entries: {name: count_queries(clients[c.entries], path) for name, path in c.paths.items()}
        for c in (small, large)
    }
    ratios, medians = {name: [] for name in small.paths}, {name: ([], []) for name in small.paths}
    for _ in range(reps):
        for name in small.paths:
            times = ([], [])
            for _ in range(requests):  # alternating, so a slow moment hits both sizes
                for side, customer in enumerate((small, large)):
                    times[side].append(timed(clients[customer.entries], customer.paths[name]))
            small_ms, large_ms = (statistics.median(t) * 1000 for t in times)
            ratios[name].append(large_ms / small_ms)
            medians[name][0].append(small_ms)
            medians[name][1].append(large_ms)
    worst = max(ratios, key=lambda name: statistics.median(ratios[name]))
    print_pages(small, large, ratios, medians, queries)
    csv = statement_csv_rss(small, large)
    spread = f"{statistics.median(ratios[worst]):.2f} ({min(ratios[worst]):.2f}–{max(ratios[worst]):.2f})"
    small_ms, large_ms = (statistics.median(m) for m in medians[worst])
    return [
        (
            f"customer pages at {large.entries:,} entries ÷ at {small.entries} (worst page)",
            spread,
            "≤ 2",
            f"{worst}: {small_ms:.1f} → {large_ms:.1f} ms, in-process, {len(small.paths)} pages "
            f"(history loaded in {loaded:.0f} s)",
        ),
        (
            f"queries per customer page ({small.entries} → {large.entries:,} entries)",
            f"{max(queries[small.entries].values())} → {max(queries[large.entries].values())}",
            "constant",
            "the same on every page" if queries[small.entries] == queries[large.entries] else "differ: see above",
        ),
        csv,
    ]


def metered_customer(name: str, entries: int) -> Customer:
    from django.db import connection
    from djmoney.money import Money

    from accounts.ledger import NewEntry, post_ledger_entries
    from accounts.models import Account, LedgerEntry, User, WebhookEndpoint
    from bench.data import add_members, grow_customer
    from bench.metered import load_usage_history, load_webhook_history
    from billing_center.keyset import Cursor
    from tests.tickets.conftest import usd_receiving_account
    from tickets.models import TransferTicket

    bank = usd_receiving_account()
    account = Account.objects.create(name=f"Metered {name}", balance=Money(0, "USD"))
    user = User.objects.create_user(f"metered-{name}", account=account, email=f"{name}@example.com")
    load_usage_history(account, count=entries - WRITER_ENTRIES)
    # What a prepaid customer also has, through the ledger writer: money in, and two members.
    post_ledger_entries([NewEntry(account.pk, Money("100.00", "USD"), "adjustment", f"bench:pages:{name}")])
    grow_customer(account=account, user=user, bank=bank, count=30)
    add_members(master=account, actor=user, count=2)
    endpoint = WebhookEndpoint.objects.create(
        account=account, url="https://hooks.example.com/billing", event_types=["charge.created", "topup.credited"],
        secret="whsec_" + "b" * 32, created_by=user,
    )  # fmt: skip
    load_webhook_history(account, endpoint)
    connection.cursor().execute("VACUUM ANALYZE")  # as autovacuum does after a bulk load
    entries_now = LedgerEntry.objects.filter(account=account).count()
    newest = LedgerEntry.objects.filter(account=account).order_by("-created_at", "-id")
    middle = newest[entries_now // 2]
    day = timezone_day(newest.filter(kind="usage").first().created_at)
    ticket = TransferTicket.objects.filter(account=account).earliest("pk")
    paths = {
        "Overview": "/billing/",
        "Pay": "/billing/pay/",
        "Top-up records": "/billing/topups/",
        "Statement": "/billing/statement/",
        "Statement, usage only": "/billing/statement/?kind=usage",
        "Statement, one day": f"/billing/statement/?date_from={day}&date_to={day}",
        "Statement, halfway back": f"/billing/statement/?older={Cursor(middle.created_at, middle.pk)}",
        "Transfer tickets": "/billing/tickets/",
        "Ticket": f"/billing/tickets/{ticket.number}/",
        "Invoices": "/billing/invoices/",
        "Alert history": "/billing/alerts/",
        "Enterprise": "/billing/enterprise/",
        "Webhook endpoint": f"/billing/developers/webhooks/{endpoint.pk}/",
    }
    return Customer(entries_now, user, paths)


def timezone_day(moment) -> str:
    from django.utils import timezone

    return timezone.localdate(moment).isoformat()


def timed(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{path}: {response.status_code}")
    return seconds


def count_queries(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path)  # per-process caches first
    with CaptureQueriesContext(connection) as captured:
        timed(client, path)
    return len(captured.captured_queries)


def print_pages(small, large, ratios, medians, queries) -> None:
    print(f"| page | {small.entries} entries (ms) | {large.entries:,} entries (ms) | ratio | queries |")
    print("|---|---|---|---|---|")
    for name in ratios:
        s, la = (statistics.median(m) for m in medians[name])
        q = f"{queries[small.entries][name]} → {queries[large.entries][name]}"
        print(f"| {name} | {s:.1f} | {la:.1f} | {statistics.median(ratios[name]):.2f} | {q} |")


def statement_csv_rss(small: Customer, large: Customer) -> tuple:
    """The statement's CSV of both customers through one gunicorn worker (behind PgBouncer's
    rules: no server-side cursors); its peak RSS (VmHWM) after each."""
    import requests
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from bench.figures import database_url
    from tests.reliability.processes import Gunicorn, service_env

    env = service_env(database_url=database_url(), broker_url="memory://", DATABASE_PGBOUNCER="true")
    results = []
    with Gunicorn(env, workers=1, threads=2) as web:  # threads: gthread, no timeout on a long download
        worker = web.worker_pids()[0]
        for customer in (small, large):
            session = SessionStore()
            session.update(
                {
                    SESSION_KEY: str(customer.user.pk),
                    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: customer.user.get_session_auth_hash(),
                }
            )
            session.create()
            cookies = {settings.SESSION_COOKIE_NAME: session.session_key}
            started, lines, size = time.perf_counter(), 0, 0
            with requests.get(
                f"{web.url}/billing/statement/?format=csv", cookies=cookies, stream=True, timeout=600
            ) as response:
                response.raise_for_status()
                for chunk in response.iter_content(1 << 16):
                    lines, size = lines + chunk.count(b"\n"), size + len(chunk)
            results.append((lines - 1, size, time.perf_counter() - started, peak_rss_mb(worker)))
    (small_rows, _, _, small_mb), (rows, size, seconds, large_mb) = results
    if rows != large.entries:
        raise RuntimeError(f"the CSV had {rows:,} rows for {large.entries:,} entries")
    return (
        f"statement CSV of {rows:,} entries, peak RSS of the worker",
        f"{large_mb:.0f} MB",
        "constant memory",
        f"{small_mb:.0f} MB after the {small_rows}-entry CSV; {size / 1e6:.0f} MB streamed in {seconds:.0f} s "
        f"({rows / seconds:,.0f} rows/s), gunicorn 1 worker, DATABASE_PGBOUNCER=true",
    )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


if __name__ == "__main__":
    import argparse

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_center.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ledger-entries", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--page-requests", type=int, default=30)
    args = parser.parse_args()
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        sys.exit("bench/pages.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = "bench_pages"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        for row in customer_pages(args):
            print(" | ".join(row))
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
