import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, connection, transaction
from djmoney.money import Money

from accounts.ledger import NewEntry, post_ledger_entries, post_ledger_entry
from accounts.models import Account, LedgerEntry
from accounts.verification import ledger_mismatches
from money.errors import BillingError, CurrencyMismatch
from tests.factories import PrepaidAccountFactory

pytestmark = pytest.mark.django_db


def usd(value: str) -> Money:
    return Money(Decimal(value), "USD")


def test_an_entry_moves_the_balance_and_records_balance_after():
    account = PrepaidAccountFactory()
    post_ledger_entry(account_id=account.pk, amount=usd("100.00"), kind="adjustment", source_ref="t:1")
    entry = post_ledger_entry(account_id=account.pk, amount=usd("-30.25"), kind="usage", source_ref="t:2")
    account.refresh_from_db()
    assert account.balance == usd("69.75")
    assert entry.balance_after == usd("69.75")
    assert ledger_mismatches() == []


def test_an_entry_in_another_currency_is_refused_and_writes_nothing():
    account = PrepaidAccountFactory()
    with pytest.raises(CurrencyMismatch):
        post_ledger_entry(account_id=account.pk, amount=Money(10, "EUR"), kind="adjustment", source_ref="t:eur")
    assert not LedgerEntry.objects.exists()
    account.refresh_from_db()
    assert account.balance == usd("0.00")


def test_a_refusal_inside_the_callers_transaction_leaves_the_balance_and_the_transaction_usable():
    """A posting to one account adds to the balance before it reads the account's currency
    (one statement): refused, the addition is rolled back, and a caller that catches the
    refusal in its own transaction (as admin does) goes on."""
    account = PrepaidAccountFactory()
    post_ledger_entry(account_id=account.pk, amount=usd("5.00"), kind="adjustment", source_ref="t:first")
    with transaction.atomic():
        with pytest.raises(CurrencyMismatch):
            post_ledger_entry(account_id=account.pk, amount=Money(10, "EUR"), kind="adjustment", source_ref="t:eur")
        assert Account.objects.get(pk=account.pk).balance == usd("5.00")
        post_ledger_entry(account_id=account.pk, amount=usd("1.00"), kind="adjustment", source_ref="t:after")
    account.refresh_from_db()
    assert account.balance == usd("6.00")
    assert ledger_mismatches() == []


def test_a_posting_to_an_account_that_does_not_exist_is_refused():
    with pytest.raises(Account.DoesNotExist):
        post_ledger_entry(account_id=987654, amount=usd("1.00"), kind="adjustment", source_ref="t:nobody")
    assert not LedgerEntry.objects.exists()


def test_cents_added_one_by_one_are_stored_exactly_on_every_database():
    """The balance is added in the database (UPDATE … RETURNING). SQLite keeps decimals as
    floating point, where a thousand additions of 0.10 drift from 100.00; what is stored must be
    what writing the exact sum stores, on SQLite as on PostgreSQL."""
    account = PrepaidAccountFactory()
    for i in range(1000):
        post_ledger_entry(account_id=account.pk, amount=usd("0.10"), kind="adjustment", source_ref=f"t:cent:{i}")
    post_ledger_entry(account_id=account.pk, amount=usd("-0.30"), kind="usage", source_ref="t:cent:out")
    with connection.cursor() as cursor:
        cursor.execute("SELECT balance FROM accounts_account WHERE id = %s", [account.pk])
        (stored,) = cursor.fetchone()
    assert Decimal(str(stored)) == Decimal("99.70")
    account.refresh_from_db()
    assert account.balance == usd("99.70")
    assert LedgerEntry.objects.get(source_ref="t:cent:out").balance_after == usd("99.70")
    assert ledger_mismatches() == []


def test_a_batch_larger_than_one_statement_gets_each_entry_its_own_row_and_running_balance():
    """The writer inserts 500 rows per statement: over three statements every returned entry
    must still carry the id of its own row, and balance_after must run per account."""
    accounts = [PrepaidAccountFactory() for _ in range(3)]
    entries = post_ledger_entries(
        [NewEntry(accounts[i % 3].pk, usd("1.25"), "adjustment", f"t:batch:{i}") for i in range(1201)]
    )
    stored = dict(LedgerEntry.objects.values_list("pk", "source_ref"))
    assert [stored[e.pk] for e in entries] == [f"t:batch:{i}" for i in range(1201)]
    assert entries[-1].balance_after == usd("501.25")  # entry 1200 is account 0's 401st: 401 × 1.25
    assert all(not e._state.adding for e in entries)
    assert ledger_mismatches() == []


def test_an_amount_finer_than_the_ledger_keeps_is_refused_and_writes_nothing():
    """Two places in the columns: 1.005 would be rounded on its own in the entry and in the
    balance, and the entries would stop adding up to the balance."""
    account = PrepaidAccountFactory()
    with pytest.raises(BillingError) as refused:
        post_ledger_entry(account_id=account.pk, amount=usd("1.005"), kind="adjustment", source_ref="t:places")
    assert refused.value.code == "amount_places"
    assert not LedgerEntry.objects.exists()
    post_ledger_entry(account_id=account.pk, amount=usd("1.500000"), kind="adjustment", source_ref="t:trailing")
    account.refresh_from_db()
    assert account.balance == usd("1.50") and ledger_mismatches() == []


def test_a_currency_with_more_places_than_the_ledger_keeps_cannot_be_configured(settings):
    from accounts.checks import currencies_fit_the_ledger

    assert currencies_fit_the_ledger(None) == []
    settings.CURRENCIES = ["KWD", "USD"]
    (error,) = currencies_fit_the_ledger(None)
    assert error.id == "accounts.E001" and "KWD has 3 decimal places" in error.msg


def test_an_empty_posting_writes_nothing():
    assert post_ledger_entries([]) == []
    assert not LedgerEntry.objects.exists()


def test_a_zero_entry_is_refused():
    account = PrepaidAccountFactory()
    with pytest.raises(BillingError):
        post_ledger_entry(account_id=account.pk, amount=usd("0"), kind="adjustment", source_ref="t:0")


def test_one_source_moves_money_once_and_the_failed_second_leaves_the_balance_alone():
    account = PrepaidAccountFactory()
    post_ledger_entry(account_id=account.pk, amount=usd("10"), kind="online_topup", source_ref="topup:x")
    with pytest.raises(IntegrityError), transaction.atomic():
        post_ledger_entry(account_id=account.pk, amount=usd("10"), kind="online_topup", source_ref="topup:x")
    account.refresh_from_db()
    assert account.balance == usd("10")
    assert LedgerEntry.objects.count() == 1


@pytest.mark.parametrize(
    "statement", ["UPDATE accounts_ledgerentry SET amount = 1", "DELETE FROM accounts_ledgerentry"]
)
def test_the_database_refuses_to_change_or_delete_a_ledger_entry(statement):
    """The trigger, not the application, refuses: raw SQL is stopped too."""
    account = PrepaidAccountFactory()
    post_ledger_entry(account_id=account.pk, amount=usd("5"), kind="adjustment", source_ref="t:immutable")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert LedgerEntry.objects.get().amount == usd("5")


def test_verify_ledger_passes_on_honest_books_and_fails_on_a_forged_balance(capsys):
    honest, forged = PrepaidAccountFactory(), PrepaidAccountFactory()
    post_ledger_entry(account_id=honest.pk, amount=usd("12.34"), kind="adjustment", source_ref="t:h")
    post_ledger_entry(account_id=forged.pk, amount=usd("50"), kind="adjustment", source_ref="t:f")
    call_command("verify_ledger")
    assert "Ledger OK" in capsys.readouterr().out

    Account.objects.filter(pk=forged.pk).update(balance=Decimal("1000000.00"))  # someone wrote balance directly
    with pytest.raises(CommandError, match="1 account"):
        call_command("verify_ledger")
    assert f"account {forged.pk}" in capsys.readouterr().err


def test_verify_ledger_exits_non_zero_from_the_command_line():
    account = PrepaidAccountFactory()
    Account.objects.filter(pk=account.pk).update(balance=Decimal("3.00"))
    with pytest.raises(SystemExit) as exit_info:
        from django.core.management import execute_from_command_line

        execute_from_command_line(["manage.py", "verify_ledger"])
    assert exit_info.value.code == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_entries_on_one_account_all_land_with_exact_balances():
    """20 threads post at once; the row lock makes every balance_after exact."""
    account = PrepaidAccountFactory()
    workers = 20
    barrier = threading.Barrier(workers)
    errors = []

    def post(i):
        try:
            barrier.wait()
            post_ledger_entry(account_id=account.pk, amount=usd("1.01"), kind="adjustment", source_ref=f"race:{i}")
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    account.refresh_from_db()
    assert account.balance == usd("20.20")
    afters = sorted(e.balance_after.amount for e in LedgerEntry.objects.filter(account=account))
    assert afters == [Decimal("1.01") * n for n in range(1, 21)]
    assert ledger_mismatches() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_money_in_once_migration_stops_at_a_transfer_already_credited_twice_and_leaves_no_index():
    """Built online (CONCURRENTLY on PostgreSQL): a ledger that holds a source credited under two kinds stops
    the migration with the key, and no half-built index stays behind to slow or refuse postings."""
    from django.db.migrations.executor import MigrationExecutor

    first, second = PrepaidAccountFactory(), PrepaidAccountFactory()  # with today's columns, before going back
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0022_review_note_parts")])  # before the constraint: the old code's ledger
    post_ledger_entry(account_id=first.pk, amount=usd("14.00"), kind="bank_transfer", source_ref="bank:UNM-6")
    post_ledger_entry(account_id=second.pk, amount=usd("14.00"), kind="repayment", source_ref="bank:UNM-6")
    executor = MigrationExecutor(connection)
    try:
        with pytest.raises(IntegrityError, match="bank:UNM-6"):
            executor.migrate([("accounts", "0023_money_in_once_per_source")])
        with connection.cursor() as cursor:
            assert "money_in_once_per_source" not in connection.introspection.get_constraints(
                cursor, "accounts_ledgerentry"
            )
    finally:  # the append-only ledger refuses DELETE; TRUNCATE (as the test's flush) clears the pair
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE accounts_ledgerentry CASCADE")
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    with connection.cursor() as cursor:
        assert "money_in_once_per_source" in connection.introspection.get_constraints(cursor, "accounts_ledgerentry")
