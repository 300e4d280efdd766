"""Top-up reads, always scoped to the owning account: another account's top-up is a 404."""

from django.shortcuts import get_object_or_404

from accounts.models import Account

from .models import TopUp


def topups_for_account(account: Account):
    return TopUp.objects.filter(account=account).order_by("-created_at", "-id")


def recent_topups(account: Account, *, pending_only: bool = False, limit: int = 5) -> list[TopUp]:
    topups = topups_for_account(account)
    if pending_only:
        topups = topups.filter(status=TopUp.Status.PENDING)
    return list(topups[:limit])


def get_topup_for_account(account: Account, public_id) -> TopUp:
    return get_object_or_404(topups_for_account(account).select_related("ledger_entry"), public_id=public_id)
