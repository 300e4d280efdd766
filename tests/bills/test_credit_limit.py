"""The credit limit of a postpaid account: usage beyond it is recorded and flagged for finance
once per crossing; the customer's alert fires at a share of it; finance moving the limit moves
the alert."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from accounts.alerts import check_balance_alert
from accounts.credit_limits import set_credit_limit, set_limit_alert
from accounts.models import Account, AlertRecipient, OutboundSms, UsageCharge
from tests.bills.conftest import at, charge
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def limited(bob):
    Account.objects.filter(pk=bob.account_id).update(credit_limit=Decimal("500.00"))
    bob.account.refresh_from_db()
    return bob


def test_usage_beyond_the_limit_is_recorded_and_flags_the_account_once_per_crossing(limited):
    account = limited.account
    charge(account, "450.00", at(2026, 11, 3), "a")
    assert not Account.objects.get(pk=account.pk).needs_review
    charge(account, "60.00", at(2026, 11, 4), "b")  # owes 510: past the limit
    charge(account, "5.00", at(2026, 11, 5), "c")  # still past: no second note
    account.refresh_from_db()
    assert UsageCharge.objects.count() == 3 and account.balance == Money("-515.00", "USD")
    assert account.needs_review
    assert account.review_note.count("credit limit") == 1
    assert "515.00" not in account.review_note and "510.00" in account.review_note


def test_the_customers_alert_fires_when_what_is_owed_passes_the_share(limited):
    account = limited.account
    AlertRecipient.objects.create(account=account, kind="sms", address="+8613800138000", confirmed_at=at(2026, 11, 1))
    set_limit_alert(account_id=account.pk, enabled=True, share=80, actor=limited)
    account.refresh_from_db()
    assert account.alert_threshold == Decimal("-400.00")

    charge(account, "399.00", at(2026, 11, 3), "a")
    assert check_balance_alert(account_id=account.pk) is None
    charge(account, "2.00", at(2026, 11, 4), "b")  # owes 401 > 80% of 500
    alert = check_balance_alert(account_id=account.pk)
    assert alert is not None
    assert "owes 401.00 USD" in alert.text and "80%" in alert.text and "/billing/repay/" in alert.text
    assert OutboundSms.objects.get().text == alert.text


def test_finance_moving_the_limit_moves_the_alert_with_it(limited):
    account = limited.account
    set_limit_alert(account_id=account.pk, enabled=True, share=50, actor=limited)
    set_credit_limit(account_id=account.pk, limit=Decimal("2000.00"), actor=None)
    account.refresh_from_db()
    assert (account.credit_limit, account.alert_threshold) == (Decimal("2000.00"), Decimal("-1000.00"))


def test_a_postpaid_account_without_a_limit_or_a_prepaid_one_cannot_set_the_limit_alert(bob):
    from money.errors import Refused

    with pytest.raises(Refused):
        set_limit_alert(account_id=bob.account_id, enabled=True, share=80, actor=bob)
    alice = UserFactory()
    with pytest.raises(Refused):
        set_limit_alert(account_id=alice.account_id, enabled=True, share=80, actor=alice)


def test_bob_sets_the_alert_on_the_overview(client, limited):
    client.force_login(limited)
    page = client.get("/billing/").content.decode()
    assert 'data-testid="limit-alert-form"' in page and "id_threshold" not in page
    response = client.post("/billing/alert/", {"action": "save_limit", "enabled": "on", "share": "80"})
    assert response.status_code == 303
    account = Account.objects.get(pk=limited.account_id)
    assert (account.alert_enabled, account.alert_limit_share, account.alert_threshold) == (True, 80, Decimal("-400"))


@pytest.mark.parametrize("share", ["1e3", "-5", "１００", "101", "0", "50.5", "", "9999"])
def test_a_hostile_share_is_a_form_error_and_changes_nothing(client, limited, share):
    client.force_login(limited)
    response = client.post("/billing/alert/", {"action": "save_limit", "enabled": "on", "share": share})
    assert response.status_code == 400
    account = Account.objects.get(pk=limited.account_id)
    assert (account.alert_enabled, account.alert_threshold) == (False, None)


def test_a_prepaid_account_is_refused_the_limit_alert(client):
    alice = UserFactory()
    client.force_login(alice)
    response = client.post("/billing/alert/", {"action": "save_limit", "enabled": "on", "share": "80"})
    assert response.status_code == 403
    assert not Account.objects.get(pk=alice.account_id).alert_enabled


def test_a_limit_set_below_what_is_owed_flags_the_account_by_no_one_and_a_limit_of_nought_shows(client, bob):
    """A limit lowered below the debt had left the account unflagged for good (later charges never cross it
    again); History had then named the next person who saved the account as the one who flagged it; and a limit
    of 0.00 had read "None set" on the Overview (found by a helper)."""
    account = bob.account
    charge(account, "220.15", at(2026, 11, 3), "a")
    finance = UserFactory(is_staff=True)
    set_credit_limit(account_id=account.pk, limit=Decimal("50.00"), actor=finance)
    account.refresh_from_db()
    assert account.needs_review and "Credit limit set to 50.00 USD, below the 220.15 USD the account owes." in (
        account.review_note
    )
    flagged = account.history.order_by("-history_date", "-history_id").first()
    assert flagged.needs_review and flagged.history_user is None
    set_credit_limit(account_id=account.pk, limit=Decimal("0"), actor=finance)
    client.force_login(bob)
    limit = client.get("/billing/").content.decode().split('data-testid="credit-limit">')[1].split("</dd>")[0]
    assert "0.00" in limit and "None set" not in limit
