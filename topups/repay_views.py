"""The Repay page of postpaid accounts: online repayment through the payment gateway."""

import secrets

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from djmoney.money import Money

from accounts.decorators import customer_required
from billing_center.errors import show_on_form
from billing_center.responses import see_other
from bills.selectors import outstanding_bills
from money.errors import BillingError, Invalid

from .exceptions import RepaymentNotAllowed
from .forms import RepaymentForm
from .repayments import start_online_repayment
from .views import topup_url


@customer_required
@require_http_methods(["GET", "POST"])
def repay(request, account):
    bills = list(outstanding_bills(account)) if account.is_postpaid else []
    form = RepaymentForm(request.POST or None, bills=bills, currency=account.billing_currency)
    status = 200 if account.is_postpaid else 403
    if request.method == "POST" and account.is_postpaid:
        if form.is_valid():
            amount = form.cleaned_data["amount"]
            try:
                topup = start_online_repayment(
                    account_id=account.pk,
                    actor=request.user,
                    amount=None if amount is None else Money(amount, account.billing_currency),
                    bill_ids=form.cleaned_data["bills"],
                    request_key=form.cleaned_data["request_key"],
                )
                return see_other(topup.checkout_url if topup.checkout_open(timezone.now()) else topup_url(topup))
            except Invalid as exc:
                status = show_on_form(form, exc, field="amount" if exc.code == "amount" else None)
            except BillingError as exc:
                status = show_on_form(form, exc)
        else:
            status = 400
    chosen = _chosen(request, form, bills)
    context = {
        "account": account,
        "form": form,
        "bills": bills,
        "chosen": chosen,
        "chosen_total": sum((b.remaining for b in bills if b.pk in chosen), Money(0, account.billing_currency)),
        "refusal": "" if account.is_postpaid else RepaymentNotAllowed().message,
        "request_key": _request_key(form),
    }
    return render(request, "topups/repay.html", context, status=status)


def _chosen(request, form, bills) -> set[int]:
    """The bills ticked: what was posted, else ?bill=<number> alone, else every unpaid bill."""
    if form.is_bound:
        return {int(pk) for pk in form.data.getlist("bills") if pk in {str(b.pk) for b in bills}}
    only = request.GET.get("bill", "")
    picked = {b.pk for b in bills if b.number == only}
    return picked or {b.pk for b in bills}


def _request_key(form) -> str:
    key = form.data.get("request_key", "") if form.is_bound else ""
    if not key or form.errors.get("__all__"):
        key = secrets.token_urlsafe(24)  # a refused submission must not hand its key to "try again"
    return key
