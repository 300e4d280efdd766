"""The receiving ("top-up") bank accounts and the invoices that print them.

The Billing Center shows only the current receiving account per currency and region;
an invoice keeps the one that was current when it was issued, so historical invoices
may show an account that has since been retired.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from money.errors import Invalid

from .models import Invoice, ReceivingAccount

# How long customers may still name a retired account on a Transfer Ticket, unless finance
# sets another date on the account (ReceivingAccount.tickets_until).
RETIRED_TICKET_WINDOW = timedelta(days=90)


@transaction.atomic
def add_receiving_account(*, account: ReceivingAccount, now: datetime | None = None) -> ReceivingAccount:
    """Make `account` (unsaved) the current one for its currency and region, retiring the previous."""
    now = now or timezone.now()
    previous = list(
        ReceivingAccount.objects.select_for_update().filter(
            currency=account.currency, region=account.region, retired_at__isnull=True
        )
    )
    for old in previous:
        _retire(old, now)
    account.valid_from = now
    account.retired_at = None
    account.save()
    return account


def retire_receiving_account(*, account_id: int, now: datetime | None = None) -> ReceivingAccount:
    account = ReceivingAccount.objects.get(pk=account_id)
    if account.retired_at is None:
        _retire(account, now or timezone.now())
    return account


def _retire(account: ReceivingAccount, now: datetime) -> None:
    account.retired_at = now
    account.tickets_until = now + RETIRED_TICKET_WINDOW
    account.save(update_fields=["retired_at", "tickets_until"])


def set_ticket_window(*, account_id: int, until: datetime | None) -> ReceivingAccount:
    """Finance's choice of how long a retired account may still be named on a ticket."""
    account = ReceivingAccount.objects.get(pk=account_id)
    if account.retired_at is None:
        raise Invalid(_("Only a retired account has a ticket window: a current one is always accepted."))
    if until is not None and until < account.retired_at:
        raise Invalid(_("The window cannot end before the account was retired."))
    account.tickets_until = until
    account.save(update_fields=["tickets_until"])
    return account


@transaction.atomic
def issue_invoice(*, invoice: Invoice) -> Invoice:
    """Issue `invoice` (unsaved) printed with the receiving account current today for its
    currency, numbered INV-<year>-<id>. Issued invoices are never edited."""
    if invoice.amount is None or invoice.amount.amount <= 0:
        raise Invalid(_("An invoice amount must be more than zero."), code="invoice_amount")
    currency = str(invoice.amount.currency)
    if invoice.receiving_account_id is None:
        invoice.receiving_account = (
            ReceivingAccount.objects.filter(currency=currency, retired_at__isnull=True).order_by("region").first()
        )
    bank = invoice.receiving_account
    if bank is None or not bank.is_current:
        raise Invalid(
            _("There is no current receiving account in %(currency)s. Add one before issuing this invoice.")
            % {"currency": currency},
            code="no_receiving_account",
        )
    if bank.currency != currency:
        raise Invalid(_("The invoice and its receiving account must be in the same currency."), code="currency")
    invoice.save()
    invoice.number = f"INV-{invoice.issue_date:%Y}-{invoice.pk:06d}"
    invoice.save(update_fields=["number"])
    return invoice
