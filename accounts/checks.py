"""System checks: settings the ledger cannot work with stop `manage.py check` and every start."""

from django.conf import settings
from django.core.checks import Error

from money.formatting import minor_places

from .models import LedgerEntry


def currencies_fit_the_ledger(app_configs, **kwargs) -> list[Error]:
    """The ledger's amount columns keep a fixed number of places: a currency with more (KWD,
    BHD: three) could not be posted exactly, so it cannot be configured."""
    places = LedgerEntry._meta.get_field("amount").decimal_places
    return [
        Error(
            f"{currency} has {minor_places(currency)} decimal places; the ledger keeps {places}.",
            hint="Remove it from BILLING_CURRENCIES and PAYMENT_CURRENCIES.",
            id="accounts.E001",
        )
        for currency in settings.CURRENCIES
        if minor_places(currency) > places
    ]
