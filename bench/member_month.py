"""A metered enterprise member's month: the member's pages and its master's Enterprise page with
360,000 usage charges this month (500 resources charged hourly for a month) ÷ the same pages with
100; and what summing the month's charges, as those pages did before accounts.monthly_usage kept
a running total, costs at that size.

Run alone (also a figure of `make bench`), against PostgreSQL:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_center .venv/bin/python bench/member_month.py

Each size is a master with one member; the member's history is loaded by bench/metered.py, all of
it in the current month (as many resources as it takes to fit the month so far). Pages are timed
in-process, the two sizes alternating request by request, as in bench/pages.py.
"""

import math
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SMALL = 100
PAGES = {"Member: Overview": "/billing/", "Member: Statement": "/billing/statement/"}
MASTER_PAGES = {"Master: Enterprise": "/billing/enterprise/"}


def member_month(args) -> list[tuple]:
    from django.test import Client

    from bench.pages import count_queries, timed

    large_size = getattr(args, "member_charges", None) or (20_000 if getattr(args, "quick", False) else 360_000)
    reps, requests = args.reps, getattr(args, "page_requests", 30)
    sizes = {size: metered_member(f"{size}", size) for size in (SMALL, large_size)}
    clients = {}
    for size, (master_user, member_user, _) in sizes.items():
        clients[size] = {"Member": Client(), "Master": Client()}
        clients[size]["Member"].force_login(member_user)
        clients[size]["Master"].force_login(master_user)
    paths = PAGES | MASTER_PAGES
    queries = {size: {name: count_queries(clients[size][name.split(":")[0]], path) for name, path in paths.items()}
               for size in sizes}  # fmt: skip
    ratios = {name: [] for name in paths}
    for _ in range(reps):
        for name, path in paths.items():
            times = {size: [] for size in sizes}
            for _ in range(requests):
                for size in sizes:
                    times[size].append(timed(clients[size][name.split(":")[0]], path))
            ratios[name].append(statistics.median(times[large_size]) / statistics.median(times[SMALL]))
    print(f"| page | ratio {large_size:,} ÷ {SMALL} | queries |")
    print("|---|---|---|")
    for name in paths:
        counted = f"{queries[SMALL][name]} → {queries[large_size][name]}"
        print(f"| {name} | {statistics.median(ratios[name]):.2f} | {counted} |")
    worst = max(ratios, key=lambda name: statistics.median(ratios[name]))
    summed_ms = month_sum_ms(sizes[large_size][2])
    return [
        (
            f"a metered member's pages at {large_size:,} charges this month ÷ at {SMALL} (worst page)",
            f"{statistics.median(ratios[worst]):.2f} ({min(ratios[worst]):.2f}–{max(ratios[worst]):.2f})",
            "≤ 2",
            f"{worst}; the month read from its running total (accounts.monthly_usage); summing its charges "
            f"instead, as the pages did before, takes {summed_ms:.0f} ms a page",
        )
    ]


def metered_member(name: str, charges: int):
    """A master and its member, the member's `charges` usage charges all in this month."""
    from django.db import connection
    from django.utils import timezone
    from djmoney.money import Money

    from accounts.lifecycle import open_account
    from accounts.models import Account, User
    from accounts.monthly_usage import month_start
    from bench.metered import load_usage_history

    master = Account.objects.create(name=f"Enterprise {name}", balance=Money(0, "USD"))
    member = open_account(
        name=f"Metered member {name}", kind="enterprise_member", billing_currency="USD", enterprise_master_id=master.pk
    )
    master_user = User.objects.create_user(f"master-{name}", account=master, email=f"master-{name}@example.com")
    member_user = User.objects.create_user(f"member-{name}", account=member, email=f"member-{name}@example.com")
    # load_usage_history ends the history an hour ago and starts it on the hour (UTC): what fits after the
    # month's start, whatever the zone's offset.
    this_hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    hours = math.floor((this_hour - month_start()) / timedelta(hours=1)) - 1
    if hours < 1:
        raise SystemExit("bench/member_month.py: the month is not two hours old yet; run it later")
    load_usage_history(member, count=charges, resources=max(1, math.ceil(charges / hours)))
    connection.cursor().execute("VACUUM ANALYZE")  # as autovacuum does after a bulk load
    return master_user, member_user, member


def month_sum_ms(member, runs: int = 15) -> float:
    """The month's usage summed from the ledger, as accounts.budgets did per page before."""
    from django.db.models import Sum

    from accounts.models import LedgerEntry
    from accounts.monthly_usage import month_start

    charges = LedgerEntry.objects.filter(account=member, kind="usage", created_at__gte=month_start())
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        charges.aggregate(total=Sum("amount"))
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


if __name__ == "__main__":
    import argparse

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_center.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--member-charges", type=int, default=360_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--page-requests", type=int, default=30)
    args = parser.parse_args()
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        sys.exit("bench/member_month.py needs PostgreSQL: set DATABASE_URL=postgres://...")
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = "bench_member_month"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        for row in member_month(args):
            print(" | ".join(row))
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
