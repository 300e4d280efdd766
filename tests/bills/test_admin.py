"""Bills and credit limits in admin: finance reads bills with their lines; an admin sets a credit limit."""

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


def test_an_admin_sets_a_credit_limit_and_the_customers_alert_follows(admin_client, bob):
    """Who may change accounts in admin (not the Finance group, which only reads them)."""
    Account.objects.filter(pk=bob.account_id).update(credit_limit=Decimal("100.00"))
    set_limit_alert(account_id=bob.account_id, enabled=True, share=50, actor=bob)
    response = admin_client.post(
        f"/admin/accounts/account/{bob.account_id}/change/",
        {"name": "Bob's Shop", "credit_limit": "800.00", "needs_review": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = Account.objects.get(pk=bob.account_id)
    assert (account.credit_limit, account.alert_threshold) == (Decimal("800.00"), Decimal("-400.00"))
