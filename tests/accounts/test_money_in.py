"""The one money-in function and two-entry transfers (accounts.ledger)."""

import threading

import pytest
from django.db import connection
from djmoney.money import Money

from accounts.ledger import NewEntry, credit_deposit, credit_deposits, post_ledger_entry, transfer_funds
from accounts.models import Account, LedgerEntry
from accounts.verification import ledger_mismatches
from money.errors import Conflict, Invalid, Refused
from tests.factories import PrepaidAccountFactory

BANK = LedgerEntry.Kind.BANK_TRANSFER


def usd(amount: str) -> Money:
    return Money(amount, "USD")


@pytest.mark.django_db
def test_a_deposit_credits_once_and_a_repeat_answers_with_the_first_entry():
    account = PrepaidAccountFactory()
    first = credit_deposit(account_id=account.pk, amount=usd("50.00"), kind=BANK, source_ref="ticket:1")
    again = credit_deposit(account_id=account.pk, amount=usd("50.00"), kind=BANK, source_ref="ticket:1")
    assert not first.already_credited
    assert again.already_credited
    assert again.entry.pk == first.entry.pk
    account.refresh_from_db()
    assert account.balance == usd("50.00")
    assert LedgerEntry.objects.count() == 1


@pytest.mark.django_db
def test_a_different_deposit_under_a_credited_source_is_a_conflict_and_posts_nothing():
    account, other = PrepaidAccountFactory(), PrepaidAccountFactory()
    credit_deposit(account_id=account.pk, amount=usd("50.00"), kind=BANK, source_ref="ticket:1")
    with pytest.raises(Conflict):
        credit_deposit(account_id=account.pk, amount=usd("60.00"), kind=BANK, source_ref="ticket:1")
    with pytest.raises(Conflict):
        credit_deposit(account_id=other.pk, amount=usd("50.00"), kind=BANK, source_ref="ticket:1")
    assert LedgerEntry.objects.count() == 1
    assert ledger_mismatches() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind, amount",
    [(LedgerEntry.Kind.USAGE, "5.00"), (LedgerEntry.Kind.ADJUSTMENT, "5.00"), (BANK, "-5.00"), (BANK, "0.00")],
)
def test_only_positive_money_in_is_a_deposit(kind, amount):
    account = PrepaidAccountFactory()
    with pytest.raises(Invalid):
        credit_deposit(account_id=account.pk, amount=usd(amount), kind=kind, source_ref="x")
    assert not LedgerEntry.objects.exists()


@pytest.mark.django_db
def test_many_new_deposits_post_together_and_one_credited_source_posts_none():
    alice, bob = PrepaidAccountFactory(), PrepaidAccountFactory()
    entries = credit_deposits(
        [NewEntry(alice.pk, usd("10.00"), BANK, "bank:A"), NewEntry(bob.pk, usd("20.00"), BANK, "bank:B")]
    )
    assert [(e.account_id, e.balance_after) for e in entries] == [(alice.pk, usd("10.00")), (bob.pk, usd("20.00"))]

    again = [NewEntry(alice.pk, usd("5.00"), BANK, "bank:C"), NewEntry(bob.pk, usd("20.00"), BANK, "bank:B")]
    with pytest.raises(Conflict):
        credit_deposits(again)  # bank:B was credited: neither is posted, the caller goes one by one
    twice = [NewEntry(alice.pk, usd("5.00"), BANK, "bank:D"), NewEntry(alice.pk, usd("5.00"), BANK, "bank:D")]
    with pytest.raises(Conflict):
        credit_deposits(twice)
    with pytest.raises(Invalid):
        credit_deposits([NewEntry(alice.pk, usd("-5.00"), BANK, "bank:E")])
    with pytest.raises(Invalid):
        credit_deposits([NewEntry(alice.pk, usd("5.00"), LedgerEntry.Kind.USAGE, "bank:F")])
    assert LedgerEntry.objects.count() == 2
    alice.refresh_from_db()
    assert alice.balance == usd("10.00") and ledger_mismatches() == []


@pytest.mark.django_db
def test_a_transfer_is_two_entries_that_sum_to_zero():
    master, member = PrepaidAccountFactory(), PrepaidAccountFactory()
    post_ledger_entry(account_id=master.pk, amount=usd("100.00"), kind="adjustment", source_ref="seed")
    debit, credit = transfer_funds(
        from_account_id=master.pk, to_account_id=member.pk, amount=usd("30.00"), source_ref="allocation:1"
    )
    assert debit.amount + credit.amount == usd("0.00")
    assert debit.balance_after == usd("70.00")
    assert credit.balance_after == usd("30.00")
    assert {debit.pk, credit.pk} == set(LedgerEntry.objects.filter(kind="transfer").values_list("pk", flat=True))
    assert ledger_mismatches() == []


@pytest.mark.django_db
def test_a_transfer_beyond_the_payers_balance_is_refused_and_writes_nothing():
    master, member = PrepaidAccountFactory(), PrepaidAccountFactory()
    post_ledger_entry(account_id=master.pk, amount=usd("10.00"), kind="adjustment", source_ref="seed")
    with pytest.raises(Refused):
        transfer_funds(from_account_id=master.pk, to_account_id=member.pk, amount=usd("10.01"), source_ref="a:1")
    with pytest.raises(Invalid):
        transfer_funds(from_account_id=master.pk, to_account_id=master.pk, amount=usd("1.00"), source_ref="a:2")
    assert LedgerEntry.objects.filter(kind="transfer").count() == 0
    assert Account.objects.get(pk=member.pk).balance == usd("0.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_deposits_for_one_source_credit_once():
    """Eight threads credit the same transfer at once: one entry, seven answers of "already"."""
    account = PrepaidAccountFactory()
    barrier, outcomes = threading.Barrier(8), []

    def credit():
        try:
            barrier.wait()
            deposit = credit_deposit(account_id=account.pk, amount=usd("25.00"), kind=BANK, source_ref="ticket:9")
            outcomes.append(deposit.already_credited)
        finally:
            connection.close()

    threads = [threading.Thread(target=credit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] + [True] * 7
    assert Account.objects.get(pk=account.pk).balance == usd("25.00")
    assert ledger_mismatches() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_transfers_never_overdraw_the_payer():
    """Ten transfers of 30.00 race for a 100.00 balance: three go through, the rest are refused."""
    master, member = PrepaidAccountFactory(), PrepaidAccountFactory()
    post_ledger_entry(account_id=master.pk, amount=usd("100.00"), kind="adjustment", source_ref="seed")
    barrier, results = threading.Barrier(10), []

    def move(n: int):
        try:
            barrier.wait()
            transfer_funds(from_account_id=master.pk, to_account_id=member.pk, amount=usd("30.00"), source_ref=f"a:{n}")
            results.append("moved")
        except Refused:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=move, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("moved") == 3
    assert Account.objects.get(pk=master.pk).balance == usd("10.00")
    assert Account.objects.get(pk=member.pk).balance == usd("90.00")
    assert ledger_mismatches() == []
