"""billing_center.db's bulk writes keep every value exactly as given: text with quotes, backslashes,
braces, commas, the word NULL, Chinese; empty and missing values; two decimal places."""

from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from accounts.ledger import NewEntry, post_ledger_entries
from accounts.models import Account, LedgerEntry
from billing_center.db import insert_new, insert_rows, update_in_bulk
from tests.factories import PrepaidAccountFactory

pytestmark = pytest.mark.django_db

NASTY = [
    'a "quoted" word',
    "back\\slash and \\\\ two",
    "{braces}, commas, and } alone",
    "NULL",
    "",
    "充值 100.00 元",
    'it\'s "both" \\ {all}',
    "line\nbreak\ttab",
]


def test_entries_and_balances_written_in_bulk_read_back_exactly():
    account = PrepaidAccountFactory(balance=Money(0, "USD"))
    entries = post_ledger_entries(
        [
            NewEntry(account.pk, Money(f"{n + 1}.05", "USD"), "adjustment", f"nasty:{n}", None, text)
            for n, text in enumerate(NASTY)
        ]
    )
    stored = dict(LedgerEntry.objects.filter(pk__in=[e.pk for e in entries]).values_list("source_ref", "description"))
    assert stored == {f"nasty:{n}": text for n, text in enumerate(NASTY)}
    account.refresh_from_db()
    assert account.balance == Money(sum(Decimal(f"{n + 1}.05") for n in range(len(NASTY))), "USD")


def test_update_in_bulk_writes_text_and_nulls_exactly():
    accounts = [PrepaidAccountFactory() for _ in NASTY]
    for account, text in zip(accounts, NASTY, strict=True):
        account.review_note, account.monthly_budget = text, None
    update_in_bulk(accounts, ["review_note", "monthly_budget"])
    stored = dict(Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("pk", "review_note"))
    assert stored == {a.pk: text for a, text in zip(accounts, NASTY, strict=True)}
    assert not Account.objects.filter(pk__in=[a.pk for a in accounts], monthly_budget__isnull=False).exists()


def test_amounts_are_written_whether_or_not_the_money_was_read_before():
    """insert_new reads each value where the model keeps it: djmoney holds a Decimal until the
    field is read, and the Money it built afterwards."""
    account = PrepaidAccountFactory(balance=Money(0, "USD"))
    read, unread = (
        LedgerEntry(
            account=account, amount=Money(amount, "USD"), balance_after=Money(amount, "USD"), kind="adjustment",
            source_ref=f"money-read:{amount}", description="",
        )
        for amount in ("12.34", "0.05")
    )  # fmt: skip
    assert read.amount == Money("12.34", "USD") and read.balance_after.currency.code == "USD"
    insert_new([read, unread], key=("kind", "source_ref"))
    stored = LedgerEntry.objects.filter(pk__in=[read.pk, unread.pk]).order_by("pk")
    assert [(e.source_ref, e.amount, e.balance_after) for e in stored] == [
        ("money-read:12.34", Money("12.34", "USD"), Money("12.34", "USD")),
        ("money-read:0.05", Money("0.05", "USD"), Money("0.05", "USD")),
    ]


def test_insert_rows_gives_each_row_its_own_id_and_writes_its_values_exactly():
    account = PrepaidAccountFactory(balance=Money(0, "USD"))
    fields = ("account_id", "amount", "amount_currency", "kind", "source_ref", "description", "balance_after",
              "balance_after_currency", "created_at")  # fmt: skip
    now = timezone.now()
    rows = [
        (account.pk, Decimal(f"{n}.25"), "USD", "adjustment", f"rows:{len(NASTY) - n}", text, Decimal(n), "USD", now)
        for n, text in enumerate(NASTY)
    ]
    ids = insert_rows(LedgerEntry, fields, rows, key=("kind", "source_ref"))
    stored = {e.pk: e for e in LedgerEntry.objects.filter(pk__in=ids)}
    assert [(stored[pk].source_ref, stored[pk].description, stored[pk].amount) for pk in ids] == [
        (f"rows:{len(NASTY) - n}", text, Money(f"{n}.25", "USD")) for n, text in enumerate(NASTY)
    ]
    assert all(stored[pk].actor_id is None and stored[pk].description_parts is None for pk in ids)  # left out: NULL
