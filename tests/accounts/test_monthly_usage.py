"""Each account's usage in each month, kept by the ledger writer as it posts (accounts.monthly_usage):
single charges and batches, the month's edge in finance's time zone, refusals, races, the
migration's recount, and verify_ledger re-summing it. A member's pages read the total, never the
month's charges."""

import json
import re
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from accounts.budgets import month_start
from accounts.ledger import NewEntry, post_ledger_entries, post_ledger_entry
from accounts.models import LedgerEntry
from accounts.monthly_usage import MonthlyUsage, recount_usage, usage_mismatches
from accounts.usage_api.tokens import create_service_token
from accounts.verification import ledger_mismatches
from money.errors import CurrencyMismatch
from tests.factories import EnterpriseMemberAccountFactory, PrepaidAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def usd(amount) -> Money:
    return Money(amount, "USD")


def spend(account, amount, ref, now=None):
    post_ledger_entry(account_id=account.pk, amount=usd(f"-{amount}"), kind="usage", source_ref=ref, now=now)


def months(account) -> dict[str, Decimal]:
    rows = MonthlyUsage.objects.filter(account=account).order_by("month").values_list("month", "spent")
    return {f"{month:%Y-%m}": spent for month, spent in rows}


def test_usage_charges_add_to_their_month_and_nothing_else_does(settings):
    settings.FINANCE_TIME_ZONE = "America/Santiago"  # not the default; on summer time (UTC-3) in December
    account = PrepaidAccountFactory()
    post_ledger_entry(account_id=account.pk, amount=usd("100.00"), kind="adjustment", source_ref="seed")
    december = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 1 December, 00:00 in Santiago
    spend(account, "1.25", "c:1", now=december)
    spend(account, "2.50", "c:2", now=december + timedelta(days=3))
    spend(account, "9.00", "c:nov", now=december - timedelta(microseconds=1))  # still November there
    post_ledger_entry(account_id=account.pk, amount=usd("-5.00"), kind="adjustment", source_ref="fee", now=december)
    post_ledger_entry(account_id=account.pk, amount=usd("0.75"), kind="usage", source_ref="c:back", now=december)

    assert months(account) == {"2026-11": Decimal("9.00"), "2026-12": Decimal("3.00")}
    assert usage_mismatches() == [] and ledger_mismatches() == []


def test_a_posting_of_several_charges_adds_them_once_per_account():
    first, second = PrepaidAccountFactory(), PrepaidAccountFactory()
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    post_ledger_entries(
        [
            NewEntry(first.pk, usd("-0.10"), "usage", "b:1"),
            NewEntry(second.pk, usd("-0.20"), "usage", "b:2"),
            NewEntry(first.pk, usd("-0.30"), "usage", "b:3"),
            NewEntry(first.pk, usd("50.00"), "adjustment", "b:4"),
        ],
        now=now,
    )
    assert months(first) == {"2026-12": Decimal("0.40")} and months(second) == {"2026-12": Decimal("0.20")}
    assert usage_mismatches() == []


def test_a_refused_posting_leaves_the_month_as_it_was():
    account, euros = PrepaidAccountFactory(), PrepaidAccountFactory(balance=Money(0, "EUR"))
    spend(account, "1.00", "c:1")
    with pytest.raises(CurrencyMismatch):
        post_ledger_entries(
            [NewEntry(account.pk, usd("-2.00"), "usage", "c:2"), NewEntry(euros.pk, usd("-3.00"), "usage", "c:3")]
        )
    with pytest.raises(IntegrityError), transaction.atomic():  # the same source twice: unique (kind, source_ref)
        spend(account, "4.00", "c:1")
    assert list(months(account).values()) == [Decimal("1.00")]
    assert not MonthlyUsage.objects.filter(account=euros).exists()


def test_a_batch_over_the_api_adds_its_charges_and_a_replay_adds_nothing(client):
    token = create_service_token(service="metering", name="Metering (test)")[1]
    accounts = [PrepaidAccountFactory() for _ in range(3)]
    batch = {
        "charges": [
            {"account": accounts[i % 3].pk, "amount": "0.05", "currency": "USD", "idempotency_key": f"h{i}"}
            for i in range(300)
        ]
    }
    for _ in range(2):
        body, bearer = json.dumps(batch), f"Bearer {token}"
        response = client.post("/api/v1/charges/batch", body, "application/json", HTTP_AUTHORIZATION=bearer)
        assert response.status_code == 200
    assert [sum(months(account).values()) for account in accounts] == [Decimal("5.00")] * 3
    assert usage_mismatches() == []


def test_verify_ledger_finds_a_forged_total_and_a_recount_repairs_it(capsys):
    account = PrepaidAccountFactory()
    spend(account, "2.00", "c:1")
    call_command("verify_ledger")
    assert "every monthly usage total equals its charges" in capsys.readouterr().out

    MonthlyUsage.objects.filter(account=account).update(spent=Decimal("0.01"))
    with pytest.raises(CommandError, match="1 monthly usage total.*recount_usage"):
        call_command("verify_ledger")
    assert f"USAGE account {account.pk}" in capsys.readouterr().err
    MonthlyUsage.objects.all().delete()  # a lost row is found as well
    assert [row[0] for row in usage_mismatches()] == [account.pk]

    call_command("recount_usage")
    assert "Recounted 1 monthly usage total(s); 1 had differed" in capsys.readouterr().out
    assert usage_mismatches() == [] and list(months(account).values()) == [Decimal("2.00")]


def test_after_finance_moves_its_time_zone_a_recount_moves_the_months_edges(settings):
    settings.FINANCE_TIME_ZONE = "Asia/Shanghai"
    account = PrepaidAccountFactory()
    spend(account, "1.00", "c:1", now=datetime(2026, 11, 30, 17, 0, tzinfo=UTC))  # December in Shanghai
    spend(account, "2.00", "c:2", now=datetime(2026, 11, 30, 12, 0, tzinfo=UTC))  # November in both
    assert months(account) == {"2026-11": Decimal("2.00"), "2026-12": Decimal("1.00")}

    settings.FINANCE_TIME_ZONE = "America/Santiago"  # 30 November 14:00 there
    assert {(row[1].month, row[3]) for row in usage_mismatches()} == {(11, Decimal("3.00")), (12, Decimal("0"))}
    recount_usage(chunk=1)
    assert months(account) == {"2026-11": Decimal("3.00")} and usage_mismatches() == []


@pytest.mark.django_db(transaction=True)
def test_the_migration_counts_the_months_of_a_ledger_written_before_it(settings):
    """Migrated back to before the totals, charges written as the previous release wrote them (the
    writer's own rows, then the totals table gone), and forward again: the months are counted in
    finance's time zone."""
    settings.FINANCE_TIME_ZONE = "America/Santiago"
    account = PrepaidAccountFactory()
    spend(account, "1.10", "c:oct", now=datetime(2026, 11, 1, 2, 30, tzinfo=UTC))  # 31 October, 23:30 there
    spend(account, "2.20", "c:nov", now=datetime(2026, 11, 1, 3, 30, tzinfo=UTC))  # 1 November, 00:30
    spend(account, "0.30", "c:nov2", now=datetime(2026, 11, 20, tzinfo=UTC))
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0020_currency_codes_as_choices")])
    executor = MigrationExecutor(connection)  # the graph as it now stands, every app's last migration: going
    executor.migrate(executor.loader.graph.leaf_nodes())  # back took the later ones that depend on accounts
    assert months(account) == {"2026-10": Decimal("1.10"), "2026-11": Decimal("2.50")}
    assert usage_mismatches() == []


def test_a_members_overview_and_its_masters_enterprise_page_read_the_total_not_the_charges(client):
    master = PrepaidAccountFactory(name="Dave's Enterprise")
    member = EnterpriseMemberAccountFactory(name="Carol", enterprise_master=master)
    users = {"dave": UserFactory(account=master), "carol": UserFactory(account=member)}
    spend(member, "3.00", "c:0")
    post_ledger_entries([NewEntry(member.pk, usd("-0.01"), "usage", f"c:{n}") for n in range(1, 2001)])

    for username, path in (("carol", "/billing/"), ("dave", "/billing/enterprise/")):
        client.force_login(users[username])
        with CaptureQueriesContext(connection) as captured:
            page = client.get(path)
        assert page.status_code == 200
        assert re.search(r'data-testid="member-spent">[^<]*\b23\.00\b', page.content.decode())  # 3.00 + 2,000 × 0.01
        queries = [query["sql"] for query in captured.captured_queries]
        assert [q for q in queries if "accounts_ledgerentry" in q and "SUM(" in q] == []  # 2,001 charges not summed
        assert any("accounts_monthlyusage" in q for q in queries)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_charges_on_one_account_add_up_exactly(settings):
    """16 threads post charges to the same two accounts at once, some crossing into a new month:
    the total of each month equals its charges, however the postings interleave."""
    settings.FINANCE_TIME_ZONE = "Asia/Shanghai"
    accounts = [PrepaidAccountFactory(), PrepaidAccountFactory()]
    workers, each = 16, 25
    barrier = threading.Barrier(workers)
    errors = []
    new_month = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # 1 January in Shanghai

    def post(worker):
        try:
            barrier.wait()
            for n in range(each):
                when = new_month + timedelta(seconds=n) if n % 5 == 0 else new_month - timedelta(seconds=n)
                post_ledger_entries(
                    [
                        NewEntry(accounts[0].pk, usd("-0.01"), "usage", f"r:{worker}:{n}:a"),
                        NewEntry(accounts[1].pk, usd("-0.02"), "usage", f"r:{worker}:{n}:b"),
                    ],
                    now=when,
                )
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert LedgerEntry.objects.filter(kind="usage").count() == workers * each * 2
    assert months(accounts[0]) == {"2026-12": Decimal("3.20"), "2027-01": Decimal("0.80")}
    assert months(accounts[1]) == {"2026-12": Decimal("6.40"), "2027-01": Decimal("1.60")}
    assert usage_mismatches() == [] and ledger_mismatches() == []


def test_month_start_is_the_one_the_totals_are_kept_by(settings):
    settings.FINANCE_TIME_ZONE = "Asia/Shanghai"
    account = PrepaidAccountFactory()
    moment = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    spend(account, "1.00", "c:1", now=moment)
    assert MonthlyUsage.objects.get(account=account).month == month_start(moment).date() == date(2026, 12, 1)


def test_a_thousand_cents_add_up_to_ten_exactly():
    """SQLite adds decimals in floating point (0.1 + 0.2 is not 0.3 there): the sum is rounded to the
    ledger's places at each step, as PostgreSQL's exact NUMERIC keeps it."""
    account = PrepaidAccountFactory()
    for n in range(100):
        post_ledger_entries([NewEntry(account.pk, usd("-0.01"), "usage", f"c:{n}:{k}") for k in range(10)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT spent FROM accounts_monthlyusage WHERE account_id = %s", [account.pk])
        [(stored,)] = cursor.fetchall()
    assert Decimal(str(stored)) == Decimal("10.00")
    assert usage_mismatches() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_recount_racing_postings_leaves_every_month_exact():
    """8 threads post charges to 3 accounts, into 20 months, while another rebuilds the totals again and
    again: each chunk it recounts is locked as the writer locks it, so a posting lands before or after it,
    never lost and never colliding with the month's row the recount writes."""
    accounts = [PrepaidAccountFactory() for _ in range(3)]
    workers, each = 8, 20
    barrier = threading.Barrier(workers + 1)
    errors, posting = [], threading.Event()

    def post(worker):
        try:
            barrier.wait()
            for n in range(each):
                account = accounts[(worker + n) % 3]
                month = datetime(2025 + n // 12, n % 12 + 1, 15, tzinfo=UTC)  # new months keep appearing
                ref = f"r:{worker}:{n}"
                post_ledger_entry(account_id=account.pk, amount=usd("-0.01"), kind="usage", source_ref=ref, now=month)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    def recount():
        recounts = 0
        try:
            barrier.wait()
            while posting.is_set() or recounts == 0:
                recount_usage(chunk=1)
                recounts += 1
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    posting.set()
    threads = [threading.Thread(target=post, args=(w,)) for w in range(workers)]
    recounter = threading.Thread(target=recount)
    for thread in [*threads, recounter]:
        thread.start()
    for thread in threads:
        thread.join()
    posting.clear()
    recounter.join()

    assert errors == []
    assert sum(sum(months(account).values()) for account in accounts) == Decimal("1.60")
    assert usage_mismatches() == []
