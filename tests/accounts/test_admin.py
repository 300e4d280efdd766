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
    assert response.status_code == 400 and "A rate must be greater than zero." in response.content.decode()
    bad = {**form, f"rates-{len(rates)}-currency": "RMB", f"rates-{len(rates)}-value": "1"}
    assert "Use one of our currencies" in client.post(url, bad).content.decode()

    # A mistyped rate had been saved, and a checkout opened at it credited 50,000.00 USD for 0.05 CNY.
    absurd = {**form, f"rates-{cny}-value": "1000000000"}
    assert "A rate is between 0.000001 and 1,000,000 units" in client.post(url, absurd).content.decode()
    typo = {**form, f"rates-{cny}-value": "0.71"}
    page = client.post(url, typo).content.decode()
    assert "This moves the rate from 7.1 to 0.71. If that is right, tick “checked” and save again." in page
    assert Rate.objects.get(backend=sheet, currency="CNY").value == Decimal("7.1")
    assert "Use one of our currencies" in client.post(url, {**form, "base_currency": "ZZZ"}).content.decode()

    good = {**form, f"rates-{cny}-value": "7.2"}
    assert client.post(url, good).status_code == 302
    sheet.refresh_from_db()
    assert Rate.objects.get(backend=sheet, currency="CNY").value == Decimal("7.2")
    assert sheet.last_update > before  # the sheet's time moves with its rates
    assert list(HistoricalRate.objects.filter(currency="CNY").order_by("history_date").values_list("value", flat=True))[
        -2:
    ] == [Decimal("7.1"), Decimal("7.2")]
    assert client.get("/admin/topups/historicalrate/").status_code == 200
    checked = {**form, f"rates-{cny}-value": "6.0", f"rates-{cny}-checked": "on"}  # -17%: no tick needed
    assert client.post(url, checked).status_code == 302
    moved = {**form, f"rates-{cny}-value": "9.0", f"rates-{cny}-checked": "on"}  # +50%, ticked
    assert client.post(url, moved).status_code == 302
    assert Rate.objects.get(backend=sheet, currency="CNY").value == Decimal("9.0")


def test_the_finance_group_sees_the_sms_log_and_balance_alerts_and_staff_without_it_do_not(client, settings):
    from django.core.management import call_command

    from accounts.models import User

    settings.DEMO = True
    call_command("seed_demo")
    lists = ("/admin/accounts/outboundsms/", "/admin/accounts/balancealert/")
    staff_login(client, User.objects.get(username="finance"))
    home = client.get("/admin/").content.decode()
    assert "SMS log" in home and "Balance alerts" in home
    for url in lists:
        assert client.get(url).status_code == 200, url

    plain_staff = UserFactory(account=None, is_staff=True)
    staff_login(client, plain_staff)
    for url in (*lists, "/admin/tickets/transferticket/", "/admin/accounts/ledgerentry/"):
        assert client.get(url).status_code == 403, url
    home = client.get("/admin/").content.decode()
    assert "SMS log" not in home and 'data-testid="todo"' not in home
    assert not plain_staff.has_perm("tickets.credit_transferticket")


def test_money_reads_the_same_in_admin_lists_and_records_as_on_customer_pages(superuser_client):
    from accounts.ledger import post_ledger_entry

    account = PrepaidAccountFactory(name="Formatted")
    post_ledger_entry(account_id=account.pk, amount=Money("1500.00", "USD"), kind="adjustment", source_ref="seed:f")
    listed = superuser_client.get("/admin/accounts/account/").content.decode()
    assert "1,500.00 USD" in listed and "$1,500.00" not in listed
    record = superuser_client.get(f"/admin/accounts/account/{account.pk}/change/").content.decode()
    assert "1,500.00 USD" in record and "$" not in record.split('id="content"')[1]
    assert "1,500.00 USD" in superuser_client.get("/admin/accounts/ledgerentry/").content.decode()


@pytest.mark.parametrize("language", ["en-us", "zh-hans"])  # the product's two languages
@pytest.mark.parametrize(
    "amount, currency", [("1234.5", "USD"), ("-12.5", "USD"), ("15100", "JPY"), ("0", "CNY"), ("1000000", "EUR")]
)
def test_str_of_money_is_money_formatting_in_every_language(language, amount, currency):
    """Model names, messages and admin print str(Money); pages print money.formatting: the same text."""
    from django.utils import translation

    from money.formatting import format_money

    with translation.override(language):
        value = Money(amount, currency)
        assert str(value) == format_money(value)


def test_rate_rows_read_as_rates_not_as_objects(client, settings):
    from django.core.management import call_command

    from accounts.models import User

    settings.DEMO = True
    call_command("seed_demo")
    staff_login(client, User.objects.get(username="finance"))
    sheet = client.get("/admin/topups/ratesheet/finance/change/").content.decode()
    assert "Rate object" not in sheet
    assert "1 USD = 7.1000 CNY" in sheet
    history = client.get("/admin/topups/historicalrate/").content.decode()
    assert "Rate object" not in history


def test_a_ledger_entrys_page_reads_its_description_in_the_readers_language(client):
    """It had shown the stored English ("Online top-up TU-…") on a Chinese admin page (found by a helper)."""
    from accounts.descriptions import ONLINE_TOPUP, describe
    from accounts.ledger import credit_deposit
    from accounts.models import LedgerEntry

    account = UserFactory().account
    description = describe(ONLINE_TOPUP, reference="TU-ABC123")
    deposit = {"amount": Money("5.00", "USD"), "kind": "online_topup", "source_ref": "t:1"}
    credit_deposit(account_id=account.pk, description=description, **deposit)
    staff_login(client, UserFactory(is_staff=True, is_superuser=True))
    entry = LedgerEntry.objects.get()
    page = client.get(f"/admin/accounts/ledgerentry/{entry.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "在线充值 TU-ABC123" in page.content.decode()


def test_a_revoked_service_token_is_on_its_history_once(superuser_client):
    from accounts.usage_api.tokens import create_service_token
    from tests.helpers import admin_history, recent_actions

    token, _ = create_service_token(service="metering", name="Metering")
    url = "/admin/accounts/servicetoken/"
    for _ in range(2):  # revoked already the second time: nothing changed
        superuser_client.post(url, {"action": "revoke", "_selected_action": [token.pk]})
    [(_, what)] = admin_history(superuser_client, f"{url}{token.pk}/history/")
    assert what == "Revoked: requests with this token now get 401"
    assert recent_actions(superuser_client) == [f"{token} Service token {what}"]
