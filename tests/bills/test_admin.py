"""Finance in admin: reads bills with their lines and settlements, sets a postpaid credit limit."""

from decimal import Decimal

import pytest

from accounts.credit_limits import set_limit_alert
from accounts.models import Account
from tests.bills.conftest import NOVEMBER, at, charge, close
from tests.helpers import staff_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def fiona(clerk, client):
    staff_login(client, clerk)
    return clerk


def test_finance_reads_a_bill_with_its_lines(client, fiona, bob):
    charge(bob.account, "12.00", at(2026, 11, 3), "a", description="vm small")
    bill = close(bob.account, NOVEMBER)
    listing = client.get("/admin/bills/bill/")
    assert listing.status_code == 200 and bill.number in listing.content.decode()
    page = client.get(f"/admin/bills/bill/{bill.pk}/change/").content.decode()
    assert "vm small" in page
    assert client.post(f"/admin/bills/bill/{bill.pk}/delete/").status_code == 403


def test_finance_sets_a_credit_limit_and_the_customers_alert_follows(client, fiona, bob):
    Account.objects.filter(pk=bob.account_id).update(credit_limit=Decimal("100.00"))
    set_limit_alert(account_id=bob.account_id, enabled=True, share=50, actor=bob)
    listing = client.get("/admin/bills/postpaidaccount/").content.decode()
    assert "Bob&#x27;s Shop" in listing or "Bob's Shop" in listing
    response = client.post(f"/admin/bills/postpaidaccount/{bob.account_id}/change/", {"credit_limit": "800.00"})
    assert response.status_code == 302, response.content.decode()[:2000]
    account = Account.objects.get(pk=bob.account_id)
    assert (account.credit_limit, account.alert_threshold) == (Decimal("800.00"), Decimal("-400.00"))


def test_an_emptied_limit_is_removed_only_with_its_box_ticked(client, fiona, bob):
    """Without a limit the account may owe any amount: an emptied field alone had lifted it."""
    Account.objects.filter(pk=bob.account_id).update(credit_limit=Decimal("500.00"))
    url = f"/admin/bills/postpaidaccount/{bob.account_id}/change/"
    assert 'name="no_limit"' in client.get(url).content.decode()
    emptied = client.post(url, {"credit_limit": ""})
    assert emptied.status_code == 400
    assert "Enter a credit limit, or tick “No credit limit” to remove it." in emptied.content.decode()
    both = client.post(url, {"credit_limit": "300", "no_limit": "on"})
    assert both.status_code == 400 and "not both" in both.content.decode()
    assert Account.objects.get(pk=bob.account_id).credit_limit == Decimal("500.00")
    assert client.post(url, {"credit_limit": "", "no_limit": "on"}).status_code == 302
    assert Account.objects.get(pk=bob.account_id).credit_limit is None
    # An account without a limit shows the box ticked, and keeps it so when saved as it is.
    assert client.post(url, {"credit_limit": "", "no_limit": "on"}).status_code == 302


def test_the_postpaid_list_reads_unpaid_bills_and_the_limit_as_money(client, fiona, bob):
    """Both had been bare numbers, the unpaid sum with twelve places on SQLite ("201.550000000000")."""
    Account.objects.filter(pk=bob.account_id).update(credit_limit=Decimal("1000.00"))
    charge(bob.account, "201.55", at(2026, 11, 3), "a")
    close(bob.account, NOVEMBER)
    listing = client.get("/admin/bills/postpaidaccount/").content.decode()
    assert '<td class="field-unpaid">201.55 USD</td>' in listing
    assert '<td class="field-limit">1,000.00 USD</td>' in listing


@pytest.mark.parametrize("limit", ["-5", "1e3", "abc"])
def test_a_bad_credit_limit_is_a_form_error_and_changes_nothing(client, fiona, bob, limit):
    response = client.post(f"/admin/bills/postpaidaccount/{bob.account_id}/change/", {"credit_limit": limit})
    assert response.status_code == 400  # the form again, with its error
    assert Account.objects.get(pk=bob.account_id).credit_limit is None


def test_a_prepaid_account_is_not_a_postpaid_account_in_admin(client, fiona):
    from tests.factories import PrepaidAccountFactory

    alice = PrepaidAccountFactory()
    assert client.get(f"/admin/bills/postpaidaccount/{alice.pk}/change/").status_code in (302, 404)


def test_a_credit_limit_set_is_on_the_accounts_history_and_a_refused_one_is_not(client, fiona, bob, monkeypatch):
    """Django's own change message, on the postpaid account's History and on the account's (the same record)."""
    from money.errors import Invalid
    from tests.helpers import admin_history

    url = f"/admin/bills/postpaidaccount/{bob.account_id}/"
    assert client.post(f"{url}change/", {"credit_limit": "800.00"}).status_code == 302
    said = [("fiona", "Changed Credit limit and No credit limit.")]  # it had none: the box was ticked
    assert admin_history(client, f"{url}history/") == said
    assert admin_history(client, f"/admin/accounts/account/{bob.account_id}/history/") == said

    def refuse(**kwargs):
        raise Invalid("Only postpaid accounts have a credit limit.")

    monkeypatch.setattr("bills.admin.set_credit_limit", refuse)
    client.post(f"{url}change/", {"credit_limit": "900.00"})
    assert admin_history(client, f"{url}history/") == said
