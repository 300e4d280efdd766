import secrets
from datetime import timedelta

import segno
from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe
from djmoney.money import Money

from accounts.decorators import customer_required
from accounts.exceptions import TopUpNotAllowed
from billing_center.csv_export import csv_response
from billing_center.responses import pdf_attachment, see_other
from money.errors import BillingError
from money.formatting import format_rate, minor_places, plain_amount
from money.rates import QuoteExpired, RateUnavailable, current_quote, read_quote
from tickets.references import formatted, payment_reference
from tickets.selectors import current_receiving_accounts, invoices_for_account

from .exceptions import GatewayUnavailable
from .forms import OnlineTopUpForm, TopUpFilterForm
from .receipts import receipt_pdf, receipt_rows
from .selectors import get_credited_topup_for_account, get_topup_for_account, load_records, record_keys
from .services import check_on_return, limits_for, start_online_topup


@customer_required
@require_http_methods(["GET", "POST"])
def pay(request, account):
    form = OnlineTopUpForm(request.POST or None, currency=account.pay_currency)
    status = 200
    if request.method == "POST":
        # The page hides the form from accounts that cannot top up; a forged POST is refused here.
        if not account.can_top_up:
            form.add_error(None, account.topup_refusal)
            status = 403
        elif form.is_valid():
            try:
                shown_in = form.cleaned_data["currency"]
                if shown_in and shown_in != account.pay_currency:
                    raise QuoteExpired(
                        f"Your payment currency changed to {account.pay_currency} since this page was loaded. "
                        "Check the amount and click Next again."
                    )
                quote = None
                if account.pay_currency != account.billing_currency:
                    quote = read_quote(
                        form.cleaned_data["quote"],
                        account_id=account.pk,
                        request_key=form.cleaned_data["request_key"],
                        billing_currency=account.billing_currency,
                        payment_currency=account.pay_currency,
                    )
                topup = start_online_topup(
                    account_id=account.pk,
                    actor=request.user,
                    amount=Money(form.cleaned_data["amount"], account.pay_currency),
                    quote=quote,
                    request_key=form.cleaned_data["request_key"],
                )
                return see_other(topup.checkout_url if topup.checkout_open(timezone.now()) else _topup_url(topup))
            except GatewayUnavailable as exc:
                form.add_error(None, exc.message)
                status = 503
            except TopUpNotAllowed as exc:
                form.add_error(None, exc.message)
                status = 403
            except (QuoteExpired, RateUnavailable) as exc:
                form.add_error(None, exc.message)
                status = 409 if isinstance(exc, QuoteExpired) else 400
            except BillingError as exc:
                form.add_error("amount", exc.message)
                status = 400
        else:
            status = 400
    return render(request, "topups/pay.html", _pay_context(account, form), status=status)


def _pay_context(account, form) -> dict:
    """What the Pay page shows: the form with a fresh one-time key and, across currencies, a quote."""
    request_key = form.data.get("request_key", "") if form.is_bound else ""
    if not request_key or form.errors.get("__all__"):
        # A refused or failed submission must not hand its key to "try again".
        request_key = secrets.token_urlsafe(24)
    quote, rate_problem = None, ""
    if account.can_top_up and account.pay_currency != account.billing_currency:
        try:
            quote = current_quote(billing_currency=account.billing_currency, payment_currency=account.pay_currency)
        except RateUnavailable as exc:
            rate_problem = exc.message
    return {
        "account": account,
        "form": form,
        "request_key": request_key,
        "limits": limits_for(account.billing_currency),
        "quote": quote,
        "quote_token": quote.token(account_id=account.pk, request_key=request_key) if quote else "",
        "quote_minutes": settings.TOPUP_QUOTE_VALID_MINUTES,
        "rate_problem": rate_problem,
        "pay_places": minor_places(account.pay_currency),
        "billing_places": minor_places(account.billing_currency),
    }


def _topup_url(topup) -> str:
    return reverse("topups:detail", args=[topup.public_id])


@customer_required
@require_safe  # pages that only show: GET and HEAD
def topup_list(request, account):
    """Top-up records: online top-ups and bank-transfer tickets, one list."""
    filters = TopUpFilterForm(request.GET or None)
    keys = record_keys(account, filters.cleaned_data if filters.is_valid() else {})
    if request.GET.get("format") == "csv" and not filters.errors:
        rows = (
            [
                r.created_at.isoformat(timespec="seconds"),
                r.reference,
                r.method,
                plain_amount(r.amount),
                str(r.amount.currency),
                plain_amount(r.credited) if r.credited else "",
                str(r.credited.currency) if r.credited else account.billing_currency,
                format_rate(r.exchange_rate) if r.exchange_rate else "",
                r.status_label,
            ]
            for chunk in _chunks(keys, 500)
            for r in load_records(chunk)
        )
        header = [
            "created_at",
            "reference",
            "method",
            "amount_paid",
            "paid_currency",
            "amount_credited",
            "billing_currency",
            "exchange_rate",
            "status",
        ]
        return csv_response(f"topups-{account.pk}.csv", header, rows)
    page = Paginator(keys, 20).get_page(request.GET.get("page"))
    page.object_list = load_records(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"account": account, "page": page, "filters": filters, "query": query.urlencode()}
    return render(request, "topups/list.html", context, status=400 if filters.is_bound and filters.errors else 200)


def _chunks(keys, size: int):
    """Slices of a keys query, so a long CSV never holds every row in memory."""
    start = 0
    while chunk := list(keys[start : start + size]):
        yield chunk
        start += size


@customer_required
@require_safe  # pages that only show: GET and HEAD
def topup_detail(request, public_id, account):
    """Also the gateway's return page: it shows status, never credits on the browser's word."""
    topup = check_on_return(topup=get_topup_for_account(account, public_id))
    now = timezone.now()
    context = {
        "account": account,
        "topup": topup,
        "checkout_open": topup.checkout_open(now),
        # A double click's second request lands here while the first is still opening the checkout.
        "opening": topup.is_pending and not topup.checkout_url and now - topup.created_at < timedelta(minutes=2),
        "cancelled": bool(request.GET.get("cancelled")) and topup.is_pending,
    }
    return render(request, "topups/detail.html", context)


@customer_required
@require_safe  # pages that only show: GET and HEAD
def receipt(request, public_id, account):
    topup = get_credited_topup_for_account(account, public_id)
    context = {"account": account, "topup": topup, "rows": receipt_rows(topup), "merchant": settings.MERCHANT_NAME}
    return render(request, "topups/receipt.html", context)


@customer_required
@require_safe  # pages that only show: GET and HEAD
def receipt_download(request, public_id, account):
    topup = get_credited_topup_for_account(account, public_id)
    return pdf_attachment(receipt_pdf(topup), f"receipt-{topup.reference}.pdf")


@customer_required
@require_safe  # pages that only show: GET and HEAD
def bank_transfer(request, account):
    """Pay page, second method: where to transfer, what to quote, then a Transfer Ticket."""
    reference = payment_reference(account.pk)
    receiving = current_receiving_accounts(currency=account.billing_currency)
    qr_code = ""
    if receiving and account.can_top_up:
        bank = receiving[0]
        number = f"IBAN: {bank.iban}" if bank.iban else f"Account: {bank.account_number}"
        details = (
            f"Beneficiary: {bank.account_name}\n{number}\nBIC: {bank.swift_bic}\n"
            f"Currency: {bank.currency}\nReference: {reference}"
        )
        qr_code = segno.make(details, error="m").svg_inline(scale=3, dark="#1f2933", title="Transfer details")
    context = {
        "account": account,
        "receiving_accounts": receiving,
        "reference": reference,
        "reference_formatted": formatted(reference),
        "qr_code": qr_code,
        "recent_invoices": list(invoices_for_account(account)[:3]),
    }
    return render(request, "topups/bank_transfer.html", context, status=200 if account.can_top_up else 403)
