import secrets

from django.conf import settings
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from djmoney.money import Money

from accounts.decorators import customer_required
from accounts.exceptions import TopUpNotAllowed
from billing_center.errors import show_on_form
from billing_center.responses import pdf_attachment, see_other
from money.errors import BillingError, Invalid
from money.formatting import format_money, minor_places, plain_amount
from money.rates import QuoteExpired, RateUnavailable, current_quote, read_quote

from .auto_topup import check_card_setup, configure, remove_card, start_card_setup
from .checkout import limits_for, start_online_topup
from .forms import AutoTopUpForm, OnlineTopUpForm
from .models import AutoTopUp, Refund, TopUp
from .receipts import confirmation, receipt_pdf, receipt_rows, settlements_of
from .reconcile import cancel_topup, check_on_return
from .return_status import POLL_EVERY_MS, headline, page_state, status_json
from .selectors import get_credited_topup_for_account, get_topup_for_account


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
                        _(
                            "Your payment currency changed to %(currency)s since this page was loaded. "
                            "Check the amount and click Next again."
                        )
                        % {"currency": account.pay_currency}
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
                return see_other(topup.checkout_url if topup.checkout_open(timezone.now()) else topup_url(topup))
            except Invalid as exc:
                status = show_on_form(form, exc, field="amount")  # a refused amount shows at the field
            except BillingError as exc:
                status = show_on_form(form, exc)
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


def topup_url(topup) -> str:
    return reverse("topups:detail", args=[topup.public_id])


@customer_required
@require_safe  # pages that only show: GET and HEAD
def topup_detail(request, public_id, account):
    """Also the gateway's return page: it shows status, never credits on the browser's word."""
    topup = check_on_return(topup=get_topup_for_account(account, public_id))
    refunds = list(topup.refunds.select_related("ledger_entry")) if topup.status == TopUp.Status.CREDITED else []
    zero = Money(0, topup.credit_amount.currency)
    refunded = sum((r.debited for r in refunds if r.status == Refund.Status.SUCCEEDED), zero)
    now = timezone.now()
    state = page_state(topup, now=now, cancelled=bool(request.GET.get("cancelled")))
    bills = list(topup.bills.all()) if topup.is_repayment else []
    # A credited repayment: what it paid on which bill, and what each of them still asks (it had said only "your
    # balance has been credited", after paying part of a bill; found by a helper).
    settled = settlements_of(topup) if topup.repays_bills and state == "credited" else []
    context = {
        "account": account,
        "topup": topup,
        "checkout_open": topup.checkout_open(now),
        "state": state,
        "headline": headline(topup, state),
        "poll_ms": POLL_EVERY_MS.get(state),
        "refunds": refunds,
        "refunded": refunded if refunded.amount else None,
        "disputes": list(topup.disputes.all()) if topup.status == TopUp.Status.CREDITED else [],
        "bills": bills,
        "settled": settled,
        "still_owed": list({s.bill.pk: s.bill for s in settled if s.bill.is_outstanding}.values()),
        "kept": topup.credit_amount - sum((s.amount for s in settled), zero) if settled else None,
        # Chosen, but paid since (another repayment, a transfer): paying this one keeps it as credit instead.
        "paid_since": [bill for bill in bills if not bill.is_outstanding] if topup.is_pending else [],
        # Where "start a new one" leads: Repay for a postpaid repayment (Pay refuses postpaid accounts).
        "again_url": reverse("topups:repay" if topup.is_repayment else "topups:pay"),
        "again_label": _("Start a new repayment") if topup.is_repayment else _("Start a new top-up"),
    }
    return render(request, "topups/detail.html", context)


@never_cache
@customer_required
@require_safe
def topup_status(request, public_id, account):
    """What the return page's script polls instead of reloading the page (JSON, owner-scoped)."""
    topup = check_on_return(topup=get_topup_for_account(account, public_id))
    return JsonResponse(status_json(topup, now=timezone.now()))


@customer_required
@require_POST
def cancel(request, public_id, account):
    """Cancel a pending checkout: closed at the gateway first (topups.reconcile.cancel_topup)."""
    topup = get_topup_for_account(account, public_id)
    if not topup.is_pending:
        status = topup.get_status_display().lower()
        messages.info(
            request,
            _("Top-up %(reference)s is %(status)s; nothing to cancel.")
            % {"reference": topup.reference, "status": status},
        )
    elif (topup := cancel_topup(topup=topup)).status == TopUp.Status.CREDITED:
        messages.info(
            request,
            _("Top-up %(reference)s was paid before it could be cancelled, so it was credited.")
            % {"reference": topup.reference},
        )
    else:
        messages.success(
            request,
            _("Top-up %(reference)s is cancelled; its payment page can no longer be used.")
            % {"reference": topup.reference},
        )
    # The Overview's summary cancels in place; the top-up page shows the outcome.
    return see_other("accounts:overview" if request.POST.get("from") == "overview" else topup_url(topup))


@customer_required
@require_safe  # pages that only show: GET and HEAD
def receipt(request, public_id, account):
    topup = get_credited_topup_for_account(account, public_id)
    context = {"account": account, "topup": topup, "rows": receipt_rows(topup), "confirmation": confirmation(topup)}
    return render(request, "topups/receipt.html", context)


@customer_required
@require_safe  # pages that only show: GET and HEAD
def receipt_download(request, public_id, account):
    topup = get_credited_topup_for_account(account, public_id)
    return pdf_attachment(receipt_pdf(topup), f"receipt-{topup.reference}.pdf")


@customer_required
@require_http_methods(["GET", "POST"])
def auto_topup(request, account):
    """Auto top-up: the saved card, the settings, and what it last did."""
    auto = AutoTopUp.objects.filter(account=account).first()
    if request.method == "GET" and auto is not None and request.GET.get("card") == "saved":
        card_before = auto.payment_method_id
        auto = check_card_setup(auto=auto)  # the webhook saves it anyway; this saves a wait
        if auto.has_card and auto.payment_method_id != card_before:
            messages.success(request, _("%(card)s is saved. Nothing was charged.") % {"card": auto.card_label})
    elif request.method == "GET" and request.GET.get("card") == "cancelled":
        messages.info(request, _("No card was saved."))
    initial = {}
    if auto is not None and auto.amount is not None:
        initial = {
            "enabled": auto.is_active,
            "threshold": plain_amount(Money(auto.threshold, account.billing_currency)),
            "amount": plain_amount(Money(auto.amount, account.billing_currency)),
            "daily_ceiling": plain_amount(Money(auto.daily_ceiling, account.billing_currency)),
            "monthly_ceiling": plain_amount(Money(auto.monthly_ceiling, account.billing_currency)),
        }
    form = AutoTopUpForm(request.POST or None, currency=account.billing_currency, initial=initial)
    status = 200 if account.can_top_up else 403
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if not account.can_top_up:
                raise TopUpNotAllowed(account.topup_refusal)
            if action == "save_card":
                return see_other(start_card_setup(account_id=account.pk, actor=request.user))
            if action == "remove_card":
                remove_card(account_id=account.pk, actor=request.user)
                messages.success(request, _("The card was removed and auto top-up is off."))
                return see_other("topups:auto")
            if action != "settings":
                raise Invalid(_("Unknown action."), code="unknown_action")
            if form.is_valid():
                auto = configure(account_id=account.pk, actor=request.user, **form.cleaned_data)
                messages.success(request, _saved_message(account, auto))
                return see_other("topups:auto")
            status = 400
        except BillingError as exc:
            status = show_on_form(form, exc, field=AUTO_ERROR_FIELDS.get(exc.code))
    context = {
        "account": account,
        "auto": auto,
        "form": form,
        "recent": TopUp.objects.filter(account=account, is_automatic=True).order_by("-created_at", "-id")[:5],
        "limits": limits_for(account.billing_currency),
    }
    return render(request, "topups/auto.html", context, status=status)


# Which field an auto top-up refusal belongs on (the rest show above the form).
AUTO_ERROR_FIELDS = {
    "threshold": "threshold", "amount": "amount", "ceiling": "daily_ceiling", "monthly_ceiling": "monthly_ceiling",
}  # fmt: skip


def _saved_message(account, auto) -> str:
    if not auto.enabled:
        return _("Saved; auto top-up is off.")
    amount = {"amount": format_money(Money(auto.amount, account.billing_currency))}
    if account.balance.amount < auto.threshold:
        return (
            _("Auto top-up is on. Your balance is already below the threshold, so %(amount)s is charged now.") % amount
        )
    return _("Auto top-up is on: %(amount)s is charged when your balance falls below the threshold.") % amount
