import secrets

from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from djmoney.money import Money

from accounts.decorators import customer_required

from .exceptions import BillingError, GatewayUnavailable, TopUpNotAllowed
from .forms import OnlineTopUpForm
from .selectors import get_topup_for_account, topups_for_account
from .services import check_on_return, start_online_topup


@customer_required
@require_http_methods(["GET", "POST"])
def pay(request, account):
    form = OnlineTopUpForm(
        request.POST or None, currency=account.billing_currency, initial={"request_key": secrets.token_urlsafe(24)}
    )
    status = 200
    if request.method == "POST":
        # The page hides the form from accounts that cannot top up; a forged POST is refused here.
        if not account.can_top_up:
            form.add_error(None, account.topup_refusal)
            status = 403
        elif form.is_valid():
            try:
                topup = start_online_topup(
                    account_id=account.pk,
                    actor=request.user,
                    amount=Money(form.cleaned_data["amount"], account.billing_currency),
                    request_key=form.cleaned_data["request_key"],
                )
                return _see_other(topup.checkout_url if topup.checkout_open(timezone.now()) else topup_url(topup))
            except GatewayUnavailable as exc:
                form.add_error(None, exc.message)
                form.data = form.data.copy()
                form.data["request_key"] = secrets.token_urlsafe(24)  # "try again" must start afresh
                status = 503
            except TopUpNotAllowed as exc:
                form.add_error(None, exc.message)
                status = 403
            except BillingError as exc:
                form.add_error("amount", exc.message)
                status = 400
        else:
            status = 400
    limits = {
        "min": f"{settings.TOPUP_MIN_AMOUNT:,}",
        "max": f"{settings.TOPUP_MAX_AMOUNT:,}",
        "daily": f"{settings.TOPUP_DAILY_LIMIT:,}",
    }
    return render(request, "topups/pay.html", {"account": account, "form": form, "limits": limits}, status=status)


def topup_url(topup) -> str:
    return reverse("topups:detail", args=[topup.public_id])


def _see_other(url: str):
    """303, so the browser follows with a GET and a reload never re-posts the form."""
    response = redirect(url)
    response.status_code = 303
    return response


@customer_required
def topup_list(request, account):
    page = Paginator(topups_for_account(account), 20).get_page(request.GET.get("page"))
    return render(request, "topups/list.html", {"account": account, "page": page})


@customer_required
def topup_detail(request, public_id, account):
    """Also the gateway's return page: it shows status, never credits on the browser's word."""
    topup = check_on_return(topup=get_topup_for_account(account, public_id))
    now = timezone.now()
    context = {
        "account": account,
        "topup": topup,
        "checkout_open": topup.checkout_open(now),
        "cancelled": bool(request.GET.get("cancelled")) and topup.is_pending,
    }
    return render(request, "topups/detail.html", context)
