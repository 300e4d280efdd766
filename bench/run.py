"""`make bench`: Billing Center measured against the database's own limit and a bare view.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_center make bench [BENCH_ARGS=--quick]

Creates its own database (bench_billing_center), starts gunicorn on a free loopback port
(2 workers × 4 threads: two cores here) and stops it by its PID, and prints one table. Each
timed figure is the median of --reps interleaved repetitions, with min–max. Ratios are taken
side by side in one run on one machine: absolute times on a shared machine mean little.
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1000, help="per page latency figure")
    parser.add_argument("--large", type=int, default=100_000, help="rows for the at-scale figures")
    parser.add_argument("--alert-accounts", type=int, default=1_000_000)
    parser.add_argument("--statement-lines", type=int, default=10_000, help="lines of the generated camt.053")
    parser.add_argument("--deliveries", type=int, default=10_000, help="webhook deliveries drained per repetition")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the command")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.requests, args.large, args.alert_accounts = 2, 100, 2_000, 20_000
        args.statement_lines, args.deliveries = 1_000, 1_000
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("make bench needs PostgreSQL: set DATABASE_URL=postgres://...")

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = "bench_billing_center"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    rows = []
    try:
        from bench import figures
        from bench.intake import intake_figures
        from bench.ledger_peers import ledger_peers
        from bench.member_month import member_month
        from bench.pages import customer_pages
        from bench.statements import statement_import

        world = figures.World.create()
        with figures.server() as url:
            rows += figures.page_latency(world, url, args)
        rows += intake_figures(world, args)  # webhook intake, then crediting by two workers
        rows += ledger_peers(args)  # before the large data, so both ledgers start near empty
        rows += figures.queries_and_queue(world, args)
        rows += figures.batch_charges(args)
        rows += figures.alert_sweep(args)
        rows += statement_import(args)
        rows += member_month(args)
        rows += customer_pages(args)  # last: it adds a million ledger entries
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        print_table(rows)  # what was measured, even when a later figure failed


def print_table(rows) -> None:
    header = ("figure", "measured", "goal", "detail")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    line = "| " + " | ".join(f"{{:<{w}}}" for w in widths) + " |"
    print(line.format(*header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line.format(*row))


if __name__ == "__main__":
    main()
