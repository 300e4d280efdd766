"""Top-up reads, always scoped to the owning account: another account's top-up is a 404; and what
finance should look at, across accounts, for the admin home.
(Money-in records across every method are accounts.deposits, fed by topups.deposits.)"""

from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import Account

from .models import Dispute, Refund, TopUp


def topups_for_account(account: Account):
    return TopUp.objects.filter(account=account).order_by("-created_at", "-id")


def get_topup_for_account(account: Account, public_id) -> TopUp:
    return get_object_or_404(topups_for_account(account).select_related("ledger_entry"), public_id=public_id)


def get_credited_topup_for_account(account: Account, public_id) -> TopUp:
    """Receipts exist only for money that arrived."""
    topup = get_topup_for_account(account, public_id)
    if topup.status != TopUp.Status.CREDITED:
        raise Http404("Only credited top-ups have a receipt.")
    return topup


def flagged_topups():
    """Top-ups flagged for finance: a notification that did not match, or a dispute."""
    return TopUp.objects.filter(needs_review=True)


def flagged_refunds():
    """Refunds flagged for finance: made in the gateway's dashboard, or contradicted by the gateway."""
    return Refund.objects.filter(needs_review=True)


def open_disputes():
    return Dispute.objects.filter(status__in=(Dispute.Status.INQUIRY, Dispute.Status.OPEN))
