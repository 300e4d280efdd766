import pytest
from djmoney.money import Money

from accounts.models import Account
from tests.factories import PrepaidAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(account=None, is_staff=True, is_superuser=True))
    return client


def test_a_new_account_gets_its_billing_currency_and_a_zero_balance(superuser_client):
    response = superuser_client.post(
        "/admin/accounts/account/add/", {"name": "Tokyo Branch", "type": "prepaid", "billing_currency": "JPY"}
    )
    assert response.status_code == 302
    account = Account.objects.get(name="Tokyo Branch")
    assert account.balance == Money(0, "JPY")


def test_the_balance_and_currency_cannot_be_edited_in_the_admin(superuser_client):
    account = PrepaidAccountFactory(name="Fixed")
    page = superuser_client.get(f"/admin/accounts/account/{account.pk}/change/").content.decode()
    assert 'name="balance_0"' not in page and 'name="balance_currency"' not in page
    superuser_client.post(
        f"/admin/accounts/account/{account.pk}/change/",
        {"name": "Fixed", "type": "prepaid", "balance_0": "999", "balance_1": "USD", "balance_currency": "EUR"},
    )
    account.refresh_from_db()
    assert account.balance == Money(0, "USD")


def test_ledger_entries_cannot_be_added_changed_or_deleted_even_by_a_superuser(superuser_client):
    assert superuser_client.get("/admin/accounts/ledgerentry/add/").status_code == 403


def test_the_finance_group_can_read_money_records_but_not_change_accounts(client, settings):
    from django.core.management import call_command

    from accounts.models import User

    settings.DEBUG = True
    call_command("seed_demo")
    client.force_login(User.objects.get(username="finance"))
    for url in ("/admin/topups/topup/", "/admin/topups/webhookdelivery/", "/admin/accounts/ledgerentry/"):
        assert client.get(url).status_code == 200, url
    alice = User.objects.get(username="alice").account
    assert (
        client.post(f"/admin/accounts/account/{alice.pk}/change/", {"name": "x", "type": "postpaid"}).status_code == 403
    )
    alice.refresh_from_db()
    assert alice.type == Account.Type.PREPAID
