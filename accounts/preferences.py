"""My Account → Preferences: the payment currency online top-ups are paid in."""

from django.conf import settings
from django.utils.translation import gettext as _

from money.errors import Invalid

from .models import Account


def set_payment_currency(*, account_id: int, currency: str, actor) -> Account:
    if currency not in settings.PAYMENT_CURRENCIES:
        raise Invalid(
            _("%(currency)s is not a currency we accept payments in.") % {"currency": currency}, code="unknown_currency"
        )
    account = Account.objects.get(pk=account_id)
    # Stored empty when it is the billing currency, so "pay as billed" survives a future change.
    account.payment_currency = "" if currency == account.billing_currency else currency
    account._history_user = actor
    account.save(update_fields=["payment_currency"])
    return account
