"""Top-up reads, always scoped to the owning account: another account's top-up is a 404."""

from datetime import timedelta

from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import Account
from accounts.selectors import within_days

from .models import TopUp


def topups_for_account(account: Account):
    return TopUp.objects.filter(account=account).order_by("-created_at", "-id")


def filter_topups(account: Account, filters: dict):
    """The records page's filters: method, status and an inclusive date range (local days)."""
    topups = topups_for_account(account)
    if filters.get("method") == "bank_transfer":
        return topups.none()  # bank-transfer tickets arrive with issue #4
    if filters.get("status"):
        topups = topups.filter(status=filters["status"])
    return within_days(topups, filters.get("date_from"), filters.get("date_to"))


def recent_topups(account: Account, *, open_checkouts_only: bool = False, limit: int = 5) -> list[TopUp]:
    """The latest top-ups; with open_checkouts_only, the pending ones still payable at the gateway."""
    topups = topups_for_account(account)
    if open_checkouts_only:
        since = timezone.now() - timedelta(minutes=settings.TOPUP_CHECKOUT_TTL_MINUTES)
        topups = topups.filter(status=TopUp.Status.PENDING, created_at__gte=since)
    return list(topups[:limit])


def get_topup_for_account(account: Account, public_id) -> TopUp:
    return get_object_or_404(topups_for_account(account).select_related("ledger_entry"), public_id=public_id)


def get_credited_topup_for_account(account: Account, public_id) -> TopUp:
    """Receipts exist only for money that arrived."""
    topup = get_topup_for_account(account, public_id)
    if topup.status != TopUp.Status.CREDITED:
        raise Http404("Only credited top-ups have a receipt.")
    return topup
