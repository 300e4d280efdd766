"""Bank statements: importing and matching a 10,000-line camt.053, and how many lines of a
realistic statement match themselves.

Run by hand (also a figure of `make bench`), against PostgreSQL:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_center .venv/bin/python bench/statements.py

The statement is generated: 2,000 customer accounts (a user with an e-mail address each); of
10,000 lines 80% quote the payer's RF reference as people type it (grouped in fours, lower
case, in the structured field or inside free text), 5% with one digit mistyped, 10% name
nothing, 5% are debits. Every line with a valid reference must land on its own account; none
may be credited to a wrong one.
"""

import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def statement_import(args) -> list[tuple]:
    from django.contrib.auth.models import Permission
    from djmoney.money import Money

    from accounts.models import Account, User
    from tests.tickets.statement_files import Entry, camt053
    from tickets.models import ReceivingAccount, StatementLine
    from tickets.references import formatted, payment_reference
    from tickets.statements.importing import import_statement

    lines_wanted = getattr(args, "statement_lines", 10_000)
    rng = random.Random(16)
    accounts = Account.objects.bulk_create(
        [Account(name=f"Statement payer {i}", balance=Money(0, "USD")) for i in range(2_000)]
    )
    # Each account has a user with an e-mail address: every credited line queues one e-mail.
    User.objects.bulk_create(
        [User(username=f"payer-{a.pk}", email=f"payer-{a.pk}@example.com", account=a) for a in accounts]
    )
    bank = ReceivingAccount.objects.filter(currency="USD", retired_at__isnull=True).first() or (
        ReceivingAccount.objects.create(
            bank_name="Bench Bank", account_name="Billing Center", iban="DE89370400440532013000",
            swift_bic="COBADEFF", currency="USD",
        )
    )  # fmt: skip
    clerk = User.objects.create(username=f"bench-clerk-{rng.random()}", is_staff=True)
    clerk.user_permissions.set(
        Permission.objects.filter(codename__in=["import_statementfile", "credit_transferticket"])
    )
    clerk = User.objects.get(pk=clerk.pk)

    entries, intended = [], {}
    for n in range(lines_wanted):
        account = rng.choice(accounts)
        rf = payment_reference(account.pk)
        reference, kind = f"BENCH-{n:06d}", rng.random()
        if kind < 0.40:
            entries.append(Entry("100.00", reference, creditor_reference=formatted(rf).lower()))
            intended[reference] = account.pk
        elif kind < 0.80:
            entries.append(Entry("25.50", reference, remittance=f"top up {formatted(rf).lower()} thanks"))
            intended[reference] = account.pk
        elif kind < 0.85:
            wrong = rf[:-1] + str((int(rf[-1]) + 1) % 10)
            entries.append(Entry("10.00", reference, remittance=formatted(wrong)))
        elif kind < 0.95:
            entries.append(Entry("40.00", reference, payer=f"Someone {n}", remittance="payment"))
        else:
            entries.append(Entry("-3.00", reference, payer="Bank fee"))
    data = camt053(entries, opening="0.00")

    from django.conf import settings

    settings.STATEMENT_AUTO_CREDIT = True
    from django.db import connection
    from django.urls import reverse

    # A clerk's upload reaches the importer through the URLconf, so a web process has it loaded
    # and indexed already; the importer's first reverse() would otherwise do both inside the timing.
    reverse("accounts:overview")
    profiler = cProfile.Profile() if getattr(args, "profile", False) else None
    queries = []  # each statement's time, counted and timed by a wrapper (a debug cursor would log them all)

    def timed(execute, *call):
        started = time.perf_counter()
        try:
            return execute(*call)
        finally:
            queries.append(time.perf_counter() - started)

    with connection.execute_wrapper(timed):
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        result = import_statement(receiving_account_id=bank.pk, data=data, name="bench.xml", actor=clerk)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler:
        profiler.disable()
        lines = int(os.environ.get("PROFILE_LINES", "40"))
        pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(lines)

    landed = dict(
        StatementLine.objects.filter(statement_file=result.statement).values_list("bank_reference", "account_id")
    )
    credited = set(
        StatementLine.objects.filter(statement_file=result.statement, state="credited").values_list(
            "bank_reference", flat=True
        )
    )
    wrong = [ref for ref in credited if landed[ref] != intended.get(ref)]
    missed = [ref for ref in intended if ref not in credited]
    share = len(credited) / max(1, sum(1 for e in entries if not e.amount.startswith("-")))
    return [
        (
            f"statement import + match ({lines_wanted:,} lines camt.053)",
            f"**{seconds:.1f} s**",
            "≤ 10 s",
            f"{result.credited:,} credited (one e-mail each), {result.unmatched:,} unmatched; "
            f"{len(queries):,} queries, {sum(queries):.1f} s waiting for them; "
            f"{cpu:.1f} s of Python's CPU time in this process",
        ),
        (
            "statement lines auto-matched",
            f"{share:.0%}",
            "every valid reference, no wrong account",
            f"valid references missed {len(missed)}, credited to a wrong account {len(wrong)}",
        ),
    ]


if __name__ == "__main__":
    import argparse

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_center.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statement-lines", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true", help="print cProfile's 40 costliest calls of the import")
    args = parser.parse_args()
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = "bench_statements"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        for row in statement_import(args):
            print(" | ".join(row))
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
