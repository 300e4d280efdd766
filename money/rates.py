"""Exchange rates and quotes for paying in another currency than the account's.

Rates live in django-money's exchange app: one ExchangeBackend per source (its
last_update is the rates' time) with its Rate rows. The default source is finance's
own rate sheet, kept in Django admin and working offline; a provider backend
(e.g. money.rates.OpenExchangeRatesBackend) is chosen with EXCHANGE_BACKEND and pulled by beat.

A quote locks the rate the customer saw: it travels signed in the Pay form, is valid
for TOPUP_QUOTE_VALID_MINUTES, and is stored on the top-up it starts.
"""

import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from urllib.request import Request, urlopen

import certifi
from django.conf import settings
from django.core import signing
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from djmoney.contrib.exchange import backends as djmoney_backends
from djmoney.contrib.exchange.backends.base import BaseExchangeBackend
from djmoney.contrib.exchange.exceptions import MissingRate
from djmoney.contrib.exchange.models import ExchangeBackend, get_rate
from djmoney.money import Money

from .errors import Conflict, Unavailable
from .formatting import minor_places

# Cross rates derived through the sheet's base keep twelve decimals, so a strong payment
# currency (1 JPY = 0.006622516556 USD…) still converts to the exact amount.
RATE_PLACES = Decimal("0.000000000001")
QUOTE_SALT = "billing-center.topup-quote"


class RateUnavailable(Unavailable):
    """No usable exchange rate: missing or stale. We refuse rather than guess."""

    code = "rate_unavailable"


class QuoteExpired(Conflict):
    """The quote a form carried is expired, foreign, or its rate sheet has changed since."""

    code = "quote_expired"


class OpenExchangeRatesBackend(djmoney_backends.OpenExchangeRatesBackend):
    """django-money's Open Exchange Rates backend, with a timeout: its `urlopen` has none, and
    it is called inside update_rates' transaction, so a hung provider would hold a worker and
    a database transaction open for ever."""

    timeout_seconds = 15

    def get_response(self, **params):
        request = Request(self.get_url(**params), headers={"User-Agent": "Billing Center"})
        context = ssl.create_default_context(cafile=certifi.where())
        with urlopen(request, context=context, timeout=self.timeout_seconds) as response:
            return response.read()


class FinanceRateSheetBackend(BaseExchangeBackend):
    """Finance's rate sheet: rates typed in Django admin, nothing fetched from outside."""

    name = "finance"

    def update_rates(self, base_currency=None, **kwargs):
        # Nothing to pull: make sure the sheet exists so finance can fill it in.
        ExchangeBackend.objects.get_or_create(
            name=self.name, defaults={"base_currency": base_currency or settings.DEFAULT_CURRENCY}
        )


def source_label(source: str) -> str:
    """A rate source in customers' words."""
    return _("Billing Center rate sheet") if source == FinanceRateSheetBackend.name else source


def round_down_to_minor(amount: Decimal, currency: str) -> Decimal:
    """Conversions round down: we never credit more than the payment buys at the quoted rate."""
    return round_to_minor(amount, currency, ROUND_DOWN)


def round_to_minor(amount: Decimal, currency: str, rounding: str) -> Decimal:
    """An amount to its currency's smallest unit (two places for USD, none for JPY), rounded as `rounding` says."""
    return amount.quantize(Decimal(1).scaleb(-minor_places(currency)), rounding=rounding)


@dataclass(frozen=True)
class Quote:
    """A rate locked for one payment: `rate` payment-currency units buy one billing unit."""

    billing_currency: str
    payment_currency: str
    rate: Decimal
    source: str
    as_of: datetime
    valid_until: datetime

    @property
    def source_label(self) -> str:
        return source_label(self.source)

    def credit_for(self, paid: Money) -> Money:
        return Money(round_down_to_minor(paid.amount / self.rate, self.billing_currency), self.billing_currency)

    def token(self, *, account_id: int, request_key: str) -> str:
        """Signed for one account and one rendered form: it cannot be replayed elsewhere."""
        return signing.dumps(
            {
                "a": account_id,
                "k": request_key,
                "b": self.billing_currency,
                "p": self.payment_currency,
                "r": str(self.rate),
                "s": self.source,
                "t": self.as_of.isoformat(),
                "u": self.valid_until.isoformat(),
            },
            salt=QUOTE_SALT,
        )


def current_quote(*, billing_currency: str, payment_currency: str, now: datetime | None = None) -> Quote:
    """The rate to quote now; refuses (never guesses) when it is missing or stale."""
    now = now or timezone.now()
    backend_name = import_string(settings.EXCHANGE_BACKEND).name
    backend = ExchangeBackend.objects.filter(name=backend_name).first()
    pair = {"billing": billing_currency, "payment": payment_currency}
    try:
        if backend is None:
            raise MissingRate(backend_name)
        rate = Decimal(get_rate(billing_currency, payment_currency, backend=backend_name)).quantize(RATE_PLACES)
    except MissingRate as exc:
        raise RateUnavailable(
            _(
                "There is no exchange rate from %(billing)s to %(payment)s yet, so we cannot take payments in "
                "%(payment)s right now. Switch to %(billing)s or try again later."
            )
            % pair
        ) from exc
    if now - backend.last_update > timedelta(hours=settings.EXCHANGE_RATE_MAX_AGE_HOURS):
        raise RateUnavailable(
            _(
                "Our %(billing)s/%(payment)s exchange rate is out of date, so we cannot take payments in "
                "%(payment)s right now. Switch to %(billing)s or try again later."
            )
            % pair
        )
    if rate <= 0:
        raise RateUnavailable(_("The %(billing)s/%(payment)s exchange rate is not usable.") % pair)
    return Quote(
        billing_currency=billing_currency,
        payment_currency=payment_currency,
        rate=rate,
        source=backend.name,
        as_of=backend.last_update,
        valid_until=now + timedelta(minutes=settings.TOPUP_QUOTE_VALID_MINUTES),
    )


def read_quote(
    token: str,
    *,
    account_id: int,
    request_key: str,
    billing_currency: str,
    payment_currency: str,
    now: datetime | None = None,
) -> Quote:
    """The quote a Pay form carried, if it is ours, for this account, form and currencies,
    still valid, and its rate sheet has not changed since (a corrected rate voids old quotes)."""
    now = now or timezone.now()
    invalid = _("The exchange-rate quote on this page is not valid. Check the new quote and try again.")
    try:
        data = signing.loads(token, salt=QUOTE_SALT)
        quote = Quote(
            billing_currency=str(data["b"]),
            payment_currency=str(data["p"]),
            rate=Decimal(str(data["r"])),
            source=str(data["s"]),
            as_of=parse_datetime(data["t"]),
            valid_until=parse_datetime(data["u"]),
        )
        owner = (data["a"], data["k"])
    except (signing.BadSignature, KeyError, TypeError, ArithmeticError, ValueError) as exc:
        raise QuoteExpired(invalid) from exc
    if owner != (account_id, request_key) or None in (quote.as_of, quote.valid_until):
        raise QuoteExpired(invalid)
    if not quote.rate.is_finite() or quote.rate <= 0:
        raise QuoteExpired(invalid)
    if (quote.billing_currency, quote.payment_currency) != (billing_currency, payment_currency):
        raise QuoteExpired(_("Your payment currency changed. Check the new quote and click Next again."))
    if now >= quote.valid_until:
        raise QuoteExpired(_("The exchange-rate quote expired. Check the new quote and click Next again."))
    sheet = ExchangeBackend.objects.filter(name=quote.source).values_list("last_update", flat=True).first()
    if sheet != quote.as_of:
        raise QuoteExpired(_("The exchange rate was updated. Check the new quote and click Next again."))
    return quote


def refresh_rates() -> str:
    """Pull rates from the configured backend (a no-op for finance's rate sheet).

    Provider backends read their URL and key from the environment when django-money
    is imported (OPEN_EXCHANGE_RATES_URL, OPEN_EXCHANGE_RATES_APP_ID).
    """
    backend = import_string(settings.EXCHANGE_BACKEND)()
    backend.update_rates(base_currency=settings.DEFAULT_CURRENCY)
    return backend.name
