"""Finance's transfer-ticket queue and the customer's ticket pages at two data sizes.

Run by hand (not in CI), against PostgreSQL:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_center \
        .venv/bin/python bench/ticket_queue.py --small 100 --large 100000

It creates and drops its own database (bench_billing_center). For each size it prints the
median time of the admin queue, the customer's ticket list and a ticket page over
--repeat requests (in-process WSGI, all middleware) and their query counts; then the
large ÷ small ratio. Issue #7 folds this into `make bench`.
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_center.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, Permission  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from djmoney.money import Money  # noqa: E402

from accounts.models import Account, User  # noqa: E402
from tickets.models import ReceivingAccount, TicketEvent, TransferTicket  # noqa: E402
from tickets.services import add_receiving_account  # noqa: E402


def add_tickets(count: int, *, start: int, account, user, bank) -> None:
    """Bulk rows: the queue's cost must not depend on how they were made."""
    now = timezone.now()
    batch = []
    for i in range(start, start + count):
        batch.append(
            TransferTicket(
                public_id=uuid.uuid4(),
                number=f"BT-2026-{i:06d}",
                account=account,
                submitted_by=user,
                payer_name=f"Payer {i}",
                payer_bank="Example Bank",
                payer_account="12345678",
                amount=Money("100.00", "USD"),
                transfer_date=now.date(),
                bank_reference=f"FT{i:010d}",
                receiving_account=bank,
                contact_name="Bench",
                contact_email="bench@example.com",
                status=TransferTicket.Status.SUBMITTED if i % 3 else TransferTicket.Status.UNDER_REVIEW,
                submitted_at=now - timedelta(minutes=i),
                due_at=now + timedelta(hours=(i % 96) - 24),
            )
        )
        if len(batch) == 5000:
            _flush(batch)
            batch = []
    _flush(batch)


def _flush(batch) -> None:
    TransferTicket.objects.bulk_create(batch)
    created = TransferTicket.objects.filter(number__in=[t.number for t in batch]).values_list("pk", flat=True)
    TicketEvent.objects.bulk_create(
        [TicketEvent(ticket_id=pk, kind="submitted", actor_id=batch[0].submitted_by_id) for pk in created]
    )


def measure(client, url: str, repeat: int) -> tuple[float, int]:
    client.get(url)  # warm up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return statistics.median(times) * 1000, len(queries.captured_queries)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = "bench_billing_center"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        account = Account.objects.create(name="Bench customer", balance=Money(0, "USD"))
        user = User.objects.create_user("bench", password="x", account=account)
        clerk = User.objects.create_user("clerk", password="x", is_staff=True)
        group = Group.objects.create(name=settings.FINANCE_GROUP)
        group.permissions.set(
            Permission.objects.filter(codename__in=["view_transferticket", "credit_transferticket", "view_account"])
        )
        clerk.groups.add(group)
        bank = add_receiving_account(
            account=ReceivingAccount(
                bank_name="Bench Bank", account_name="BC", account_number="1", swift_bic="DEUTDEFF", currency="USD"
            )
        )
        finance, customer = Client(), Client()
        finance.force_login(clerk)
        customer.force_login(user)
        rows = {}
        made = 0
        for size in (args.small, args.large):
            add_tickets(size - made, start=made + 1, account=account, user=user, bank=bank)
            made = size
            if connection.vendor == "postgresql":
                connection.cursor().execute("ANALYZE")  # plans for the new size, as autovacuum would
            ticket = TransferTicket.objects.order_by("pk").first()
            rows[size] = {
                "admin queue": measure(finance, "/admin/tickets/transferticket/", args.repeat),
                "customer ticket list": measure(customer, "/billing/tickets/", args.repeat),
                "customer ticket page": measure(customer, f"/billing/tickets/{ticket.number}/", args.repeat),
                "top-up records": measure(customer, "/billing/topups/", args.repeat),
            }
        print(f"{'page':<22} {'ms @' + str(args.small):>10} {'ms @' + str(args.large):>12} {'ratio':>6} queries")
        for page in rows[args.small]:
            (small_ms, small_q), (large_ms, large_q) = rows[args.small][page], rows[args.large][page]
            print(f"{page:<22} {small_ms:>10.1f} {large_ms:>12.1f} {large_ms / small_ms:>6.2f} {small_q} → {large_q}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
