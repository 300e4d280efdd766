from decimal import Decimal

import pytest
from djmoney.money import Money

from accounts.models import Account
from tests.factories import PrepaidAccountFactory, UserFactory
from tests.helpers import staff_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    staff_login(client, UserFactory(account=None, is_staff=True, is_superuser=True))
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

    settings.DEMO = True
    call_command("seed_demo")
    staff_login(client, User.objects.get(username="finance"))
    for url in ("/admin/topups/topup/", "/admin/topups/webhookdelivery/", "/admin/accounts/ledgerentry/"):
        assert client.get(url).status_code == 200, url
    alice = User.objects.get(username="alice").account
    assert (
        client.post(f"/admin/accounts/account/{alice.pk}/change/", {"name": "x", "type": "postpaid"}).status_code == 403
    )
    alice.refresh_from_db()
    assert alice.type == Account.Type.PREPAID


def test_finance_keeps_the_rate_sheet_in_admin_with_checked_rates_and_a_history(client, settings):
    from django.core.management import call_command
    from djmoney.contrib.exchange.models import ExchangeBackend, Rate

    from accounts.models import User
    from topups.models import HistoricalRate

    settings.DEMO = True
    call_command("seed_demo")
    staff_login(client, User.objects.get(username="finance"))
    sheet = ExchangeBackend.objects.get(name="finance")
    before = sheet.last_update
    rates = list(sheet.rates.order_by("pk"))
    form = {
        "base_currency": "USD",
        "rates-TOTAL_FORMS": str(len(rates) + 1),
        "rates-INITIAL_FORMS": str(len(rates)),
        "rates-MIN_NUM_FORMS": "0",
        "rates-MAX_NUM_FORMS": "1000",
    }
    for i, rate in enumerate(rates):
        form.update(
            {
                f"rates-{i}-id": str(rate.pk),
                f"rates-{i}-backend": "finance",
                f"rates-{i}-currency": rate.currency,
                f"rates-{i}-value": str(rate.value),
            }
        )
    url = "/admin/topups/ratesheet/finance/change/"
    cny = next(i for i, r in enumerate(rates) if r.currency == "CNY")

    bad = {**form, f"rates-{cny}-value": "0"}
    response = client.post(url, bad)
    assert response.status_code == 200 and "A rate must be greater than zero." in response.content.decode()
    bad = {**form, f"rates-{len(rates)}-currency": "RMB", f"rates-{len(rates)}-value": "1"}
    assert "Use one of our currencies" in client.post(url, bad).content.decode()

    good = {**form, f"rates-{cny}-value": "7.2"}
    assert client.post(url, good).status_code == 302
    sheet.refresh_from_db()
    assert Rate.objects.get(backend=sheet, currency="CNY").value == Decimal("7.2")
    assert sheet.last_update > before  # the sheet's time moves with its rates
    assert list(HistoricalRate.objects.filter(currency="CNY").order_by("history_date").values_list("value", flat=True))[
        -2:
    ] == [Decimal("7.1"), Decimal("7.2")]
    assert client.get("/admin/topups/historicalrate/").status_code == 200
