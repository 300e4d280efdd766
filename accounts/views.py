from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from billing_center.csv_export import csv_response
from topups.selectors import recent_topups

from .charts import balance_chart
from .decorators import customer_required
from .exceptions import BillingError
from .formatting import plain_amount
from .forms import PreferencesForm, StatementFilterForm
from .selectors import daily_balances, filter_ledger_entries, recent_ledger_entries
from .services import set_payment_currency


def home(request):
    if request.user.is_authenticated and request.user.account_id is None and request.user.is_staff:
        return redirect("admin:index")
    return redirect("accounts:overview")


@customer_required
def overview(request, account):
    context = {
        "account": account,
        "chart": balance_chart(daily_balances(account)),
        "entries": recent_ledger_entries(account),
        "open_topups": recent_topups(account, open_checkouts_only=True, limit=3),
    }
    return render(request, "accounts/overview.html", context)


def safe_next(request, fallback: str) -> str:
    """Our own path from ?next=, or the fallback: never another site, scheme or //host."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and url_has_allowed_host_and_scheme(target, allowed_hosts=set(), require_https=False)
    ):
        return target
    return fallback


@customer_required
@require_http_methods(["GET", "POST"])
def preferences(request, account):
    next_url = safe_next(request, reverse("topups:pay"))
    form = PreferencesForm(request.POST or None, initial={"payment_currency": account.pay_currency})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                account = set_payment_currency(
                    account_id=account.pk, currency=form.cleaned_data["payment_currency"], actor=request.user
                )
                messages.success(request, f"Saved. You now pay online top-ups in {account.pay_currency}.")
                return redirect(next_url)
            except BillingError as exc:
                form.add_error("payment_currency", exc.message)
        status = 400
    return render(
        request, "accounts/preferences.html", {"account": account, "form": form, "next": next_url}, status=status
    )


@customer_required
def statement(request, account):
    filters = StatementFilterForm(request.GET or None)
    entries = filter_ledger_entries(account, filters.cleaned_data if filters.is_valid() else {})
    if request.GET.get("format") == "csv" and not filters.errors:
        rows = (
            [
                e.created_at.isoformat(timespec="seconds"),
                e.get_kind_display(),
                e.description,
                plain_amount(e.amount),
                plain_amount(e.balance_after),
                str(e.amount.currency),
                e.source_ref,
            ]
            for e in entries.iterator()
        )
        header = ["created_at", "type", "description", "amount", "balance_after", "currency", "source"]
        return csv_response(f"statement-{account.pk}.csv", header, rows)
    page = Paginator(entries, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"account": account, "page": page, "filters": filters, "query": query.urlencode()}
    return render(
        request, "accounts/statement.html", context, status=400 if filters.is_bound and filters.errors else 200
    )
