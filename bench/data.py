"""Rows in bulk for the benchmarks and the query-count test: many of each kind a page lists.

Made with bulk inserts, so a page's cost does not depend on how its rows were made; money
still moves only through the ledger writer (one batch of entries per call).
"""

import uuid
from datetime import timedelta

from django.utils import timezone
from djmoney.money import Money

from accounts.ledger import NewEntry, post_ledger_entries
from accounts.models import BalanceAlert
from tickets.models import Invoice, TicketEvent, TransferTicket
from topups.models import TopUp

CHUNK = 5_000


def grow_customer(*, account, user, bank, count: int, start: int = 0) -> None:
    """`count` more of everything the customer's pages list, numbered from `start`."""
    add_ledger_history(account=account, count=count, start=start)
    add_topups(account=account, user=user, count=count, start=start)
    add_tickets(account=account, user=user, bank=bank, count=count, start=start)
    add_invoices(account=account, bank=bank, count=count, start=start)
    add_balance_alerts(account=account, count=count, start=start)


def add_ledger_history(*, account, count: int, start: int = 0) -> None:
    currency = str(account.balance.currency)
    for first in range(start, start + count, CHUNK):
        last = min(first + CHUNK, start + count)
        post_ledger_entries(
            [
                NewEntry(
                    account.pk, Money("5.00" if i % 4 else "-3.00", currency), "adjustment", f"bench:{account.pk}:{i}"
                )
                for i in range(first, last)
            ]
        )


def add_topups(*, account, user, count: int, start: int = 0) -> None:
    """Credited online top-ups, each with its ledger entry (a credited top-up must have one)."""
    now = timezone.now()
    for first in range(start, start + count, CHUNK):
        topups = [
            TopUp(
                account=account,
                created_by=user,
                gateway="stripe",
                amount=Money("100.00", "USD"),
                credit_amount=Money("100.00", "USD"),
                status=TopUp.Status.CREDITED,
                gateway_session_id=f"cs_bench_{account.pk}_{i}",
                credited_at=now - timedelta(minutes=i),
            )
            for i in range(first, min(first + CHUNK, start + count))
        ]
        entries = post_ledger_entries(
            [NewEntry(account.pk, topup.credit_amount, "online_topup", topup.ledger_source_ref) for topup in topups]
        )
        for topup, entry in zip(topups, entries, strict=True):
            topup.ledger_entry = entry
        TopUp.objects.bulk_create(topups)


def add_tickets(*, account, user, bank, count: int, start: int = 0) -> None:
    """Open tickets with their "submitted" event, due from a day ago to three days ahead."""
    now = timezone.now()
    for first in range(start, start + count, CHUNK):
        batch = [
            TransferTicket(
                public_id=uuid.uuid4(),
                number=f"BT-{account.pk}-{i}",  # unique, and short enough with a million accounts before
                account=account,
                submitted_by=user,
                payer_name=f"Payer {i}",
                payer_bank="Example Bank",
                payer_account="12345678",
                amount=Money("100.00", "USD"),
                transfer_date=now.date(),
                bank_reference=f"FT{account.pk:03d}{i:010d}",
                receiving_account=bank,
                contact_name="Bench",
                contact_email="bench@example.com",
                status=TransferTicket.Status.SUBMITTED if i % 3 else TransferTicket.Status.UNDER_REVIEW,
                submitted_at=now - timedelta(minutes=i),
                due_at=now + timedelta(hours=(i % 96) - 24),
            )
            for i in range(first, min(first + CHUNK, start + count))
        ]
        created = TransferTicket.objects.bulk_create(batch)
        TicketEvent.objects.bulk_create(
            [TicketEvent(ticket_id=ticket.pk, kind="submitted", actor_id=user.pk) for ticket in created]
        )


def add_invoices(*, account, bank, count: int, start: int = 0) -> None:
    rows = (
        Invoice(
            number=f"INV-2026-{account.pk:03d}{i:07d}",
            account=account,
            amount=Money("120.00", "USD"),
            description=f"Usage {i}",
            receiving_account=bank,
        )
        for i in range(start, start + count)
    )
    Invoice.objects.bulk_create(rows, batch_size=CHUNK)


def add_balance_alerts(*, account, count: int, start: int = 0) -> None:
    rows = (
        BalanceAlert(
            account=account,
            crossing=i + 1,
            balance=Money("40.00", "USD"),
            threshold=Money("50.00", "USD"),
            text=f"Balance 40.00 USD is below your alert threshold of 50.00 USD ({i})",
        )
        for i in range(start, start + count)
    )
    BalanceAlert.objects.bulk_create(rows, batch_size=CHUNK)


def add_members(*, master, actor, count: int, start: int = 0) -> None:
    """`count` more member accounts of `master`, each given funds by an allocation (so the
    master's recent moves grow too) and with some usage this month."""
    from accounts.enterprise import allocate
    from accounts.lifecycle import open_account

    currency = str(master.balance.currency)
    for i in range(start, start + count):
        member = open_account(
            name=f"Member {i:05d}", kind="enterprise_member", billing_currency=currency, enterprise_master_id=master.pk
        )
        allocate(
            master_id=master.pk,
            member_id=member.pk,
            amount=Money("10.00", currency),
            actor=actor,
            request_key=f"bench-member-{i:05d}",
        )
        post_ledger_entries([NewEntry(member.pk, Money("-2.50", currency), "usage", f"bench:member:{member.pk}")])
