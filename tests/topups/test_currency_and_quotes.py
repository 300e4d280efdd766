"""Paying in another currency: preferences, quotes at a locked rate, minor units, stale and missing rates."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from accounts.models import Account
from money.rates import QuoteExpired, RateUnavailable, current_quote, read_quote
from tests.factories import PendingTopUpFactory, UserFactory
from tests.fakes.stripe import event, paid_session, post_webhook, signed
from tests.helpers import hidden_fields
from tests.intake import apply_stored, delivered
from topups.models import TopUp

pytestmark = pytest.mark.django_db


@pytest.fixture
def rate_sheet():
    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    for currency, value in {"CNY": "7.1000", "EUR": "0.9200", "GBP": "0.7900", "JPY": "151.00"}.items():
        Rate.objects.create(backend=sheet, currency=currency, value=Decimal(value))
    return sheet


def pay_in(account: Account, currency: str) -> None:
    Account.objects.filter(pk=account.pk).update(payment_currency=currency)


def start(client, amount: str):
    """Load the Pay page (as a browser would) and submit its form with the quote it carries."""
    return client.post("/billing/pay/", {**hidden_fields(client.get("/billing/pay/")), "amount": amount})


@pytest.mark.parametrize(
    "billing, payment, paid, credited, rate",
    [
        ("USD", "CNY", "710.00", "100.00", "7.100000000000"),
        ("USD", "CNY", "100.00", "14.08", "7.100000000000"),  # 14.0845… rounds down to cents
        ("USD", "CNY", "70.99", "9.99", "7.100000000000"),  # 9.9986… rounds down too
        ("USD", "JPY", "15100", "100.00", "151.000000000000"),
        ("USD", "JPY", "1000", "6.62", "151.000000000000"),
        ("EUR", "CNY", "771.74", "100.00", "7.717391304348"),  # through the USD base: 7.1 / 0.92
        ("GBP", "EUR", "116.46", "100.00", "1.164556962025"),
        ("JPY", "USD", "100.00", "15100", "0.006622516556"),  # JPY credits have no minor unit
    ],
)
def test_conversion_is_exact_decimal_arithmetic_at_the_locked_rate(rate_sheet, billing, payment, paid, credited, rate):
    quote = current_quote(billing_currency=billing, payment_currency=payment)
    assert quote.rate == Decimal(rate)
    assert quote.credit_for(Money(paid, payment)) == Money(credited, billing)


def test_pay_in_cny_get_usd_at_the_quoted_rate_and_the_gateway_is_asked_for_cny(client, alice, rate_sheet, settings):
    pay_in(alice.account, "CNY")
    page = client.get("/billing/pay/").content.decode()
    assert "Rate 1 USD = 7.1000 CNY" in page and "valid for 15 min" in page
    chinese = client.get("/billing/pay/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "汇率 1 USD = 7.1000 CNY" in chinese  # as the top-up, its receipt and ticket threads write a rate

    assert start(client, "710.00").status_code == 303
    topup = TopUp.objects.get()
    assert topup.amount == Money("710.00", "CNY") and topup.credit_amount == Money("100.00", "USD")
    assert topup.exchange_rate == Decimal("7.1") and topup.rate_source == "finance"
    assert topup.rate_as_of == rate_sheet.last_update


def test_the_rate_is_locked_when_the_topup_starts_not_when_it_is_paid(client, alice, rate_sheet, stripe_settings):
    pay_in(alice.account, "CNY")
    start(client, "710.00")
    topup = TopUp.objects.get()
    Rate.objects.filter(currency="CNY").update(value=Decimal("9.0"))  # the rate moves before the payment lands
    TopUp.objects.filter(pk=topup.pk).update(gateway="stripe", gateway_session_id="cs_test_locked")
    topup.refresh_from_db()
    post_webhook(client, *signed(event("checkout.session.completed", paid_session(topup))))
    apply_stored()
    alice.account.refresh_from_db()
    assert alice.account.balance == Money("100.00", "USD")


def test_the_webhook_must_report_the_amount_in_the_payment_currency(client, stripe_settings):
    topup = PendingTopUpFactory(amount=Money("710.00", "CNY"), credit_amount=Money("100.00", "USD"))
    session = paid_session(topup, amount_total=10000, currency="usd")  # the credit amount, not what was paid
    assert delivered(post_webhook(client, *signed(event("checkout.session.completed", session)))) == "flagged"
    good = paid_session(topup)
    assert good["amount_total"] == 71000 and good["currency"] == "cny"
    assert delivered(post_webhook(client, *signed(event("checkout.session.completed", good)))) == "credited"
    topup.account.refresh_from_db()
    assert topup.account.balance == Money("100.00", "USD")


def test_stripe_is_asked_for_the_amount_paid_in_the_payment_currency(client, alice, rate_sheet, fake_stripe, settings):
    settings.PAYMENT_GATEWAY = "stripe"
    pay_in(alice.account, "JPY")
    start(client, "15100")
    form = fake_stripe.create_requests[0]["form"]
    assert form["line_items[0][price_data][currency]"] == "jpy"
    assert form["line_items[0][price_data][unit_amount]"] == "15100"  # JPY has no minor unit


@pytest.mark.parametrize(
    "currency, raw, message",
    [
        ("JPY", "100.5", "JPY has no minor unit"),
        ("JPY", "100.00", "JPY has no minor unit"),
        ("CNY", "100.555", "at most 2 decimals"),
    ],
)
def test_amounts_respect_the_payment_currencys_minor_unit(client, alice, rate_sheet, currency, raw, message):
    pay_in(alice.account, currency)
    response = start(client, raw)
    assert response.status_code == 400 and message in response.content.decode()
    assert not TopUp.objects.exists()


def test_limits_apply_to_the_credited_amount_in_the_billing_currency(client, alice, rate_sheet):
    pay_in(alice.account, "JPY")
    response = start(client, "1000")  # 6.62 USD, under the 10.00 USD minimum
    assert response.status_code == 400 and "The minimum top-up is 10.00 USD: " in response.content.decode()
    paid = response.content.decode().split("The minimum top-up is 10.00 USD: ", 1)[1].split(" at this rate", 1)[0]
    assert paid.endswith(" JPY"), paid  # said in what the payer pays in too (found by a helper paying in CNY)
    assert start(client, paid.split()[0].replace(",", "")).status_code == 303  # and that much is enough
    assert TopUp.objects.get().credit_amount >= Money("10.00", "USD")


def test_a_missing_rate_refuses_the_payment_with_a_clear_message(client, alice, rate_sheet):
    Rate.objects.filter(currency="GBP").delete()
    pay_in(alice.account, "GBP")
    page = client.get("/billing/pay/").content.decode()
    assert "There is no exchange rate from USD to GBP yet" in page
    response = client.post("/billing/pay/", {"amount": "100.00", "request_key": "k"})
    assert response.status_code == 409 and not TopUp.objects.exists()


def test_a_stale_rate_refuses_the_payment_never_guessing(client, alice, rate_sheet, settings):
    pay_in(alice.account, "CNY")
    ExchangeBackend.objects.filter(pk=rate_sheet.pk).update(last_update=timezone.now() - timedelta(hours=25))
    assert "is out of date" in client.get("/billing/pay/").content.decode()
    with pytest.raises(RateUnavailable):
        current_quote(billing_currency="USD", payment_currency="CNY")


def test_an_expired_quote_is_refused_and_a_fresh_one_is_shown(client, alice, rate_sheet):
    pay_in(alice.account, "CNY")
    shown = hidden_fields(client.get("/billing/pay/"))
    assert shown["quote"] and shown["request_key"]
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        ExchangeBackend.objects.filter(pk=rate_sheet.pk).update(last_update=timezone.now())
        response = client.post("/billing/pay/", {**shown, "amount": "710.00"})
    assert response.status_code == 409
    assert "The exchange-rate quote expired" in response.content.decode()
    assert hidden_fields(response)["quote"] not in ("", shown["quote"])
    assert not TopUp.objects.exists()


def _read(token, **overrides):
    kwargs = {"account_id": 1, "request_key": "k", "billing_currency": "USD", "payment_currency": "CNY", **overrides}
    return read_quote(token, **kwargs)


def test_a_forged_foreign_or_replayed_quote_is_refused(rate_sheet):
    from django.core import signing

    from money.rates import QUOTE_SALT

    quote = current_quote(billing_currency="USD", payment_currency="CNY")
    token = quote.token(account_id=1, request_key="k")
    assert _read(token).rate == Decimal("7.1")
    forged = token.replace(token.split(":")[0], "eyJyIjoiMC4wMSJ9")
    for bad in ("", "garbage", forged):
        with pytest.raises(QuoteExpired):
            _read(bad)
    with pytest.raises(QuoteExpired):
        _read(token, account_id=2)  # another account's quote
    with pytest.raises(QuoteExpired):
        _read(token, request_key="another-form")  # the same quote on a second form
    with pytest.raises(QuoteExpired, match="payment currency changed"):
        _read(token, payment_currency="EUR")
    data = signing.loads(token, salt=QUOTE_SALT)
    for rate in ("0", "-7.1", "NaN", "Infinity"):
        with pytest.raises(QuoteExpired):
            _read(signing.dumps({**data, "r": rate}, salt=QUOTE_SALT))
    with pytest.raises(QuoteExpired):
        _read(signing.dumps({**data, "u": "not a time"}, salt=QUOTE_SALT))


def test_a_corrected_rate_sheet_voids_the_quotes_made_from_it(client, alice, rate_sheet):
    """Finance fixes a typo in the sheet: a page still showing the old rate cannot pay at it."""
    pay_in(alice.account, "CNY")
    shown = hidden_fields(client.get("/billing/pay/"))
    Rate.objects.filter(currency="CNY").update(value=Decimal("7.2"))
    rate_sheet.save()  # saving the sheet in admin stamps its time
    response = client.post("/billing/pay/", {**shown, "amount": "710.00"})
    assert response.status_code == 409 and "The exchange rate was updated" in response.content.decode()
    assert not TopUp.objects.exists()


def test_a_form_loaded_in_jpy_is_not_charged_in_usd_after_a_switch_in_another_tab(client, alice, rate_sheet):
    pay_in(alice.account, "JPY")
    shown = hidden_fields(client.get("/billing/pay/"))
    assert shown["currency"] == "JPY"
    pay_in(alice.account, "")  # back to paying in USD, in another tab
    response = client.post("/billing/pay/", {**shown, "amount": "15100"})
    assert response.status_code == 409 and "changed to USD" in response.content.decode()
    assert not TopUp.objects.exists()


def test_conversions_round_down_never_crediting_more_than_the_payment_buys(client, alice, rate_sheet):
    pay_in(alice.account, "CNY")
    assert start(client, "70.99").status_code == 400  # 9.9986 USD is under the 10.00 USD minimum
    assert start(client, "71.04").status_code == 303
    assert TopUp.objects.get().credit_amount == Money("10.00", "USD")  # 10.0056 rounds down


def test_limits_are_set_per_billing_currency(client, rate_sheet):
    from tests.factories import PrepaidAccountFactory

    user = UserFactory(account=PrepaidAccountFactory(balance=Money(0, "JPY")))
    client.force_login(user)
    page = client.get("/billing/pay/").content.decode()
    assert "Between 1,500 JPY and 7,500,000 JPY credited per top-up" in page
    response = client.post("/billing/pay/", {**hidden_fields(client.get("/billing/pay/")), "amount": "1000"})
    assert response.status_code == 400 and "The minimum top-up is 1,500 JPY" in response.content.decode()


def test_switching_currency_between_loading_the_page_and_next_is_refused(client, alice, rate_sheet):
    pay_in(alice.account, "CNY")
    shown = hidden_fields(client.get("/billing/pay/"))
    pay_in(alice.account, "EUR")  # in another tab
    response = client.post("/billing/pay/", {**shown, "amount": "710.00"})
    assert response.status_code == 409 and not TopUp.objects.exists()


@pytest.mark.parametrize(
    "next_url, lands_on",
    [
        ("/billing/pay/", "/billing/pay/"),
        ("/billing/topups/", "/billing/topups/"),
        ("//evil.example", "/billing/pay/"),
        ("https://evil.example/", "/billing/pay/"),
        ("javascript:alert(1)", "/billing/pay/"),
        ("/\\evil.example", "/billing/pay/"),
        ("http:/evil.example", "/billing/pay/"),
        ("", "/billing/pay/"),
    ],
)
def test_preferences_save_and_return_only_to_our_own_paths(client, alice, next_url, lands_on):
    response = client.post(f"/account/preferences/?next={next_url}", {"payment_currency": "CNY"})
    assert response.status_code == 302 and response["Location"] == lands_on
    alice.account.refresh_from_db()
    assert alice.account.pay_currency == "CNY"


def test_an_unknown_payment_currency_is_a_form_error(client, alice):
    response = client.post("/account/preferences/", {"payment_currency": "XAU"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    alice.account.refresh_from_db()
    assert alice.account.pay_currency == "USD"


def test_choosing_the_billing_currency_again_means_pay_as_billed(client, alice):
    client.post("/account/preferences/", {"payment_currency": "CNY"})
    client.post("/account/preferences/", {"payment_currency": "USD"})
    alice.account.refresh_from_db()
    assert alice.account.payment_currency == "" and alice.account.pay_currency == "USD"
