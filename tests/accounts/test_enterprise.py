"""Enterprise funds as a service: a master allocates to its members and reclaims from them, each
move one posting of two entries that sum to zero, once per form, never more than is there;
members' budgets are flagged to the master; a member's alert can go to the master too."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from djmoney.money import Money

from accounts.alerts import check_balance_alert, set_alert
from accounts.budgets import flag_budget_overruns, month_start
from accounts.enterprise import (
    allocate,
    member_funds,
    members_with_spending,
    reclaim,
    set_member_settings,
    with_enterprise_state,
)
from accounts.exceptions import InsufficientFunds
from accounts.ledger import post_ledger_entry
from accounts.models import Account, AlertRecipient, FundMove, LedgerEntry, OutboundEmail, OutboundSms
from accounts.verification import ledger_mismatches, unbalanced_transfers
from money.errors import Conflict, Invalid, NotFound, Refused
from tests.factories import EnterpriseMemberAccountFactory, PrepaidAccountFactory, UserFactory

pytestmark = pytest.mark.django_db
KEY = "form-key-0001"


def usd(amount) -> Money:
    return Money(amount, "USD")


def fund(account, amount, ref=None):
    post_ledger_entry(
        account_id=account.pk, amount=usd(amount), kind="adjustment", source_ref=ref or f"seed:{account.pk}"
    )


def spend(account, amount, ref, now=None):
    post_ledger_entry(account_id=account.pk, amount=usd(f"-{amount}"), kind="usage", source_ref=ref, now=now)


@pytest.fixture
def dave():
    master = PrepaidAccountFactory(name="Dave's Enterprise")
    fund(master, "1000.00")
    return UserFactory(username="dave", first_name="Dave", email="dave@example.com", account=master)


@pytest.fixture
def carol(dave):
    member = EnterpriseMemberAccountFactory(name="Carol", enterprise_master=dave.account)
    return UserFactory(username="carol", first_name="Carol", email="carol@example.com", account=member)


def balance(account) -> Money:
    account.refresh_from_db()
    return account.balance


def move(service, dave, carol, amount, key=KEY, **kwargs):
    return service(
        master_id=dave.account_id,
        member_id=carol.account_id,
        amount=usd(amount),
        actor=dave,
        request_key=key,
        **kwargs,
    )


def test_an_allocation_is_one_posting_of_two_entries_that_sum_to_zero(dave, carol):
    result = move(allocate, dave, carol, "300.00")

    assert result.created
    assert balance(dave.account) == usd("700.00")
    assert balance(carol.account) == usd("300.00")
    entries = LedgerEntry.objects.filter(source_ref__startswith=f"enterprise:{dave.account_id}:")
    assert sorted(e.amount.amount for e in entries) == [Decimal("-300.00"), Decimal("300.00")]
    assert {e.actor for e in entries} == {dave}  # the audit trail names who moved the money
    assert {e.account_id for e in entries} == {dave.account_id, carol.account_id}
    assert result.move.debit_entry.account_id == dave.account_id
    assert result.move.credit_entry.account_id == carol.account_id
    assert "Allocation from Dave's Enterprise to Carol" in result.move.credit_entry.description
    assert ledger_mismatches() == []
    assert unbalanced_transfers() == []


def test_a_reclaim_moves_unspent_funds_back_to_the_master(dave, carol):
    move(allocate, dave, carol, "300.00")
    result = move(reclaim, dave, carol, "100.00", key="form-key-0002")

    assert result.move.direction == FundMove.Direction.RECLAIM
    assert balance(carol.account) == usd("200.00")
    assert balance(dave.account) == usd("800.00")
    assert result.move.debit_entry.account_id == carol.account_id
    assert result.move.member_change == usd("-100.00")
    assert unbalanced_transfers() == []


def test_the_same_form_submitted_again_posts_nothing_new(dave, carol):
    first = move(allocate, dave, carol, "300.00")
    again = move(allocate, dave, carol, "300.00")

    assert not again.created
    assert again.move == first.move
    assert FundMove.objects.count() == 1
    assert LedgerEntry.objects.filter(kind="transfer").count() == 2
    assert balance(carol.account) == usd("300.00")


def test_a_form_key_reused_for_another_move_is_a_conflict(dave, carol):
    move(allocate, dave, carol, "300.00")
    with pytest.raises(Conflict):
        move(allocate, dave, carol, "250.00")
    with pytest.raises(Conflict):
        move(reclaim, dave, carol, "300.00")
    assert balance(carol.account) == usd("300.00")


def test_an_allocation_above_the_masters_funds_is_refused_and_writes_nothing(dave, carol):
    with pytest.raises(InsufficientFunds, match="1,000.00 USD available"):
        move(allocate, dave, carol, "1000.01")
    assert FundMove.objects.count() == 0
    assert balance(dave.account) == usd("1000.00")


def test_all_the_masters_funds_can_be_allocated(dave, carol):
    move(allocate, dave, carol, "1000.00")
    assert balance(dave.account) == usd("0.00")


def test_a_reclaim_above_the_members_funds_is_refused(dave, carol):
    move(allocate, dave, carol, "50.00")
    spend(carol.account, "20.00", "charge:1")
    with pytest.raises(InsufficientFunds, match="Carol has 30.00 USD left"):
        move(reclaim, dave, carol, "30.01", key="form-key-0002")
    move(reclaim, dave, carol, "30.00", key="form-key-0003")
    assert balance(carol.account) == usd("0.00")


def test_a_member_in_arrears_has_nothing_to_reclaim(dave, carol):
    spend(carol.account, "5.00", "charge:1")
    with pytest.raises(InsufficientFunds, match="0.00 USD left"):
        move(reclaim, dave, carol, "1.00")


@pytest.mark.parametrize("whose", ["another enterprise's member", "a prepaid account", "the master itself"])
def test_only_the_masters_own_members_can_be_funded(dave, whose):
    other = {
        "another enterprise's member": lambda: EnterpriseMemberAccountFactory(),
        "a prepaid account": lambda: PrepaidAccountFactory(),
        "the master itself": lambda: dave.account,
    }[whose]()
    for service in (allocate, reclaim):
        with pytest.raises((NotFound, Invalid)):
            service(master_id=dave.account_id, member_id=other.pk, amount=usd("1.00"), actor=dave, request_key=KEY)
    assert FundMove.objects.count() == 0


def test_only_the_masters_users_move_its_funds(dave, carol):
    mallory = UserFactory(username="mallory")
    for actor in (carol, mallory, None):
        with pytest.raises(Refused):
            allocate(
                master_id=dave.account_id, member_id=carol.account_id, amount=usd("1.00"), actor=actor, request_key=KEY
            )
    assert FundMove.objects.count() == 0


@pytest.mark.parametrize("key", ["", "short", "x" * 65, "key with spaces", "ключ-ключ-ключ", None])
def test_a_missing_or_forged_form_key_is_refused(dave, carol, key):
    with pytest.raises(Invalid):
        move(allocate, dave, carol, "1.00", key=key)


def test_a_zero_or_negative_amount_is_refused(dave, carol):
    for amount in ("0.00", "-5.00"):
        with pytest.raises(Invalid):
            move(allocate, dave, carol, amount)


def test_the_page_reads_members_with_this_months_spending(dave, carol):
    move(allocate, dave, carol, "300.00")
    spend(carol.account, "12.50", "charge:1")
    spend(carol.account, "7.25", "charge:2")
    spend(carol.account, "99.00", "charge:old", now=month_start() - timedelta(seconds=1))  # last month
    erin = EnterpriseMemberAccountFactory(name="Erin", enterprise_master=dave.account)

    members = members_with_spending(dave.account)

    assert [m.name for m in members] == ["Carol", "Erin"]
    assert members[0].spent == Decimal("19.75")
    assert members[1].spent == 0
    funds = member_funds(Account.objects.get(pk=carol.account_id))
    assert funds.master == dave.account
    assert funds.contacts == [dave]  # who allocated her funds: whom to ask
    assert funds.spent == usd("19.75")
    assert [m.member_change for m in funds.received] == [usd("300.00")]
    assert erin.pk  # listed with no spending
    other_admin = UserFactory(account=dave.account)
    move(reclaim, other_admin, carol, "10.00", key="reclaim-key-1")
    funds = member_funds(Account.objects.get(pk=carol.account_id))
    assert funds.contacts == [dave]  # the one who reclaimed did not allocate anything: not named (found by a helper)


def test_the_month_starts_in_finances_time_zone(settings):
    settings.FINANCE_TIME_ZONE = "Asia/Shanghai"
    # 2026-11-30 17:00 UTC is already 1 December in Shanghai.
    assert month_start(datetime(2026, 11, 30, 17, 0, tzinfo=UTC)) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


def test_the_master_sets_a_budget_and_it_is_in_the_accounts_history(dave, carol):
    set_member_settings(
        master_id=dave.account_id, member_id=carol.account_id, budget=Decimal("150.00"), alert_copy=True, actor=dave
    )
    member = Account.objects.get(pk=carol.account_id)
    assert member.monthly_budget == Decimal("150.00")
    assert member.alert_copy_to_master
    latest = member.history.latest()
    assert latest.history_user == dave and latest.monthly_budget == Decimal("150.00")
    with pytest.raises(Refused):
        set_member_settings(
            master_id=dave.account_id, member_id=carol.account_id, budget=None, alert_copy=False, actor=carol
        )
    with pytest.raises(NotFound):
        set_member_settings(
            master_id=dave.account_id, member_id=PrepaidAccountFactory().pk, budget=None, alert_copy=False, actor=dave
        )


def over_budget_count(master) -> int:
    return with_enterprise_state(Account.objects.filter(pk=master.pk)).get().members_over_budget


def test_usage_beyond_the_budget_is_flagged_and_emailed_to_the_master_once_a_month(dave, carol):
    move(allocate, dave, carol, "300.00")
    set_member_settings(
        master_id=dave.account_id, member_id=carol.account_id, budget=Decimal("50.00"), alert_copy=False, actor=dave
    )
    spend(carol.account, "50.00", "charge:1")
    assert flag_budget_overruns() == 0  # at the budget is not beyond it

    spend(carol.account, "0.01", "charge:2")
    assert flag_budget_overruns() == 1
    assert over_budget_count(dave.account) == 1
    assert flag_budget_overruns() == 0  # the next sweep finds it flagged
    spend(carol.account, "40.00", "charge:3")
    assert flag_budget_overruns() == 0  # still this month

    email = OutboundEmail.objects.get()
    assert email.to == "dave@example.com"
    assert "Carol" in email.subject
    assert "50.01 USD" in email.body
    assert "monthly budget of 50.00 USD" in email.body
    assert "/billing/enterprise/" in email.body

    next_month = month_start() + timedelta(days=40)
    spend(carol.account, "60.00", "charge:4", now=next_month)
    assert flag_budget_overruns(now=next_month + timedelta(hours=1)) == 1
    assert OutboundEmail.objects.count() == 2


def test_a_new_budget_clears_the_flag_and_the_month_still_emails_once(dave, carol):
    move(allocate, dave, carol, "300.00")
    common = {"master_id": dave.account_id, "member_id": carol.account_id, "alert_copy": False, "actor": dave}
    set_member_settings(budget=Decimal("10.00"), **common)
    spend(carol.account, "20.00", "charge:1")
    assert flag_budget_overruns() == 1

    set_member_settings(budget=Decimal("100.00"), **common)  # the master raises it
    assert over_budget_count(dave.account) == 0
    assert flag_budget_overruns() == 0

    set_member_settings(budget=Decimal("15.00"), **common)  # and lowers it again, same month
    assert flag_budget_overruns() == 1
    assert over_budget_count(dave.account) == 1
    assert OutboundEmail.objects.count() == 1  # one e-mail per member and month


def test_a_member_sets_an_expenditure_alert_on_her_funds_and_it_can_reach_the_master(dave, carol):
    move(allocate, dave, carol, "100.00")
    member = Account.objects.get(pk=carol.account_id)
    AlertRecipient.objects.create(account=member, kind="sms", address="+8613800138001", confirmed_at=member.created_at)
    AlertRecipient.objects.create(
        account=dave.account, kind="sms", address="+8613800138002", confirmed_at=member.created_at
    )
    set_alert(account_id=member.pk, enabled=True, threshold=Decimal("50.00"), actor=carol)
    set_member_settings(master_id=dave.account_id, member_id=member.pk, budget=None, alert_copy=True, actor=dave)
    spend(member, "60.00", "charge:1")

    alert = check_balance_alert(account_id=member.pk)

    assert alert is not None
    assert set(OutboundSms.objects.filter(alert=alert).values_list("to", flat=True)) == {
        "+8613800138001",
        "+8613800138002",
    }
    assert "Dave's Enterprise" in alert.text and "Top up" not in alert.text


def test_a_number_on_both_the_member_and_the_master_is_texted_once_a_crossing(dave, carol):
    """One person's phone, confirmed on both accounts, had been texted twice for one crossing (found by a helper)."""
    move(allocate, dave, carol, "100.00")
    member = Account.objects.get(pk=carol.account_id)
    for account, email in ((dave.account, "Ops@Example.com"), (member, "ops@example.com")):
        confirmed = {"account": account, "confirmed_at": member.created_at}
        AlertRecipient.objects.create(kind="sms", address="+8613800138001", **confirmed)
        AlertRecipient.objects.create(kind="email", address=email, **confirmed)
    set_alert(account_id=member.pk, enabled=True, threshold=Decimal("50.00"), actor=carol)
    set_member_settings(master_id=dave.account_id, member_id=member.pk, budget=None, alert_copy=True, actor=dave)
    spend(member, "60.00", "charge:1")
    alert = check_balance_alert(account_id=member.pk)
    assert list(OutboundSms.objects.filter(alert=alert).values_list("to", flat=True)) == ["+8613800138001"]
    assert OutboundEmail.objects.filter(alert=alert).count() == 1
    own = AlertRecipient.objects.get(account=member, kind="sms")
    assert OutboundSms.objects.get(alert=alert).dedupe_key.endswith(f":{own.pk}")  # the member's own, not a copy


def test_without_the_option_the_masters_recipients_are_not_alerted(dave, carol):
    move(allocate, dave, carol, "100.00")
    AlertRecipient.objects.create(
        account=dave.account, kind="sms", address="+8613800138002", confirmed_at=dave.account.created_at
    )
    set_alert(account_id=carol.account_id, enabled=True, threshold=Decimal("50.00"), actor=carol)
    spend(carol.account, "60.00", "charge:1")
    alert = check_balance_alert(account_id=carol.account_id)
    assert alert is not None
    assert not OutboundSms.objects.filter(alert=alert).exists()


def test_verify_ledger_reports_a_two_entry_posting_that_does_not_sum_to_zero(dave, carol):
    move(allocate, dave, carol, "300.00")
    call_command("verify_ledger", stdout=io.StringIO())
    post_ledger_entry(account_id=carol.account_id, amount=usd("5.00"), kind="transfer", source_ref="lonely:in")
    stderr = io.StringIO()
    with pytest.raises(CommandError, match="1 two-entry posting"):
        call_command("verify_ledger", stdout=io.StringIO(), stderr=stderr)
    assert "UNBALANCED posting lonely" in stderr.getvalue()
    assert unbalanced_transfers() == [("lonely", "USD", Decimal("5.00"), 1)]


def test_the_demo_seed_gives_dave_two_funded_members(db):
    call_command("seed_demo", force=True, stdout=io.StringIO())
    call_command("seed_demo", force=True, stdout=io.StringIO())  # twice: nothing doubles
    dave = Account.objects.get(name="Dave's Enterprise")
    members = sorted(dave.members.values_list("name", flat=True))
    assert members == ["Carol (Dave's Enterprise)", "Erin (Dave's Enterprise)"]
    assert FundMove.objects.filter(master=dave).count() == 4
    assert FundMove.objects.filter(direction="reclaim").count() == 1
    assert all(m.balance.amount > 0 for m in dave.members.all())
    assert ledger_mismatches() == []
    assert unbalanced_transfers() == []
