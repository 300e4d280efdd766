"""The Repay page's second method for postpaid accounts: a bank transfer quoting the bill number."""

from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.decorators import customer_required
from bills.selectors import outstanding_bills

from .references import formatted, payment_reference
from .selectors import current_receiving_accounts


@customer_required
@require_safe  # pages that only show: GET and HEAD
def repay_bank_transfer(request, account):
    context = {
        "account": account,
        "receiving_accounts": current_receiving_accounts(currency=account.billing_currency),
        "reference_formatted": formatted(payment_reference(account.pk)),
        "bills": list(outstanding_bills(account)) if account.is_postpaid else [],
    }
    return render(request, "tickets/repay_bank_transfer.html", context, status=200 if account.is_postpaid else 403)
