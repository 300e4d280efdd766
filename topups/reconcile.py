"""Asking the gateway about top-ups whose notification is late, and closing abandoned
checkouts; the answers go through the same path as a notification (topups.notices)."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from money.errors import Conflict

from .auto_topup import auto_topup_settled
from .exceptions import GatewayUnavailable
from .gateways import get_gateway
from .models import TopUp, WebhookDelivery
from .notices import CLOSE_REASONS, apply_payment_notice, close_topup

logger = logging.getLogger(__name__)
Verdict = WebhookDelivery.Verdict


def reconcile_topup(*, topup_id: int, now: datetime | None = None) -> TopUp:
    """Ask the gateway about a pending top-up and apply its answer through the same path."""
    now = now or timezone.now()
    topup = TopUp.objects.get(pk=topup_id)
    if not topup.is_pending or not (topup.gateway_session_id or topup.is_automatic):
        return topup  # a checkout that never opened; an auto top-up's charge may have been taken unanswered
    TopUp.objects.filter(pk=topup.pk).update(last_checked_at=now)
    try:
        notice = get_gateway(topup.gateway).fetch_payment(topup)
    except (GatewayUnavailable, LookupError) as exc:
        logger.warning("Could not reconcile %s: %s", topup.reference, exc)
        return TopUp.objects.get(pk=topup.pk)
    outcome = apply_payment_notice(gateway_name=topup.gateway, notice=notice, now=now)
    auto_topup_settled(topup, outcome.verdict, now=now)
    return TopUp.objects.get(pk=topup.pk)


def reconcile_pending_topups(*, now: datetime | None = None) -> dict[str, int]:
    """The beat task: reconcile top-ups whose notification is late; close abandoned ones.

    An abandoned checkout is closed at the gateway first, so it can never be paid after
    we gave up on it; if the payment won that race, the answer credits it instead.
    """
    now = now or timezone.now()
    stale = now - timedelta(minutes=settings.TOPUP_RECONCILE_AFTER_MINUTES)
    abandoned = now - timedelta(hours=settings.TOPUP_EXPIRE_AFTER_HOURS)
    counts = {"checked": 0, "credited": 0, "expired": 0}
    pending = TopUp.objects.filter(status=TopUp.Status.PENDING, created_at__lt=stale).order_by("created_at")
    for topup_id, created_at in pending.values_list("pk", "created_at")[:500]:
        topup = reconcile_topup(topup_id=topup_id, now=now)
        if topup.is_pending and created_at < abandoned:
            topup = _close_abandoned(topup, now=now)
        counts["checked"] += 1
        if topup.status == TopUp.Status.CREDITED:
            counts["credited"] += 1
        elif topup.status == TopUp.Status.EXPIRED:
            counts["expired"] += 1
    return counts


def _close_abandoned(topup: TopUp, *, now: datetime) -> TopUp:
    try:
        return close_at_gateway(topup, status=TopUp.Status.EXPIRED, reason=CLOSE_REASONS["expired"], now=now)
    except GatewayUnavailable as exc:
        logger.warning("Could not close the checkout of %s, will retry: %s", topup.reference, exc)
        return topup


def cancel_topup(*, topup: TopUp, now: datetime | None = None) -> TopUp:
    """The customer gives up on a pending checkout. Closed at the gateway first, so it cannot
    be paid afterwards; if the payment won that race, the gateway's answer credits it instead
    (the caller tells the customer by the status it gets back)."""
    now = now or timezone.now()
    if not topup.is_pending:
        return topup
    if not topup.gateway_session_id and now - topup.created_at < timedelta(minutes=2):
        # A double click's first request may still be opening the checkout: closing now could miss it.
        raise Conflict(gettext("The payment page of this top-up is still opening. Try again in a moment."))
    reason = CANCELLED_REPAYMENT if topup.is_repayment else CANCELLED_BY_CUSTOMER
    return close_at_gateway(topup, status=TopUp.Status.CANCELLED, reason=reason, now=now)


CANCELLED_BY_CUSTOMER = gettext_noop("You cancelled this top-up before paying.")  # stored; shown translated
CANCELLED_REPAYMENT = gettext_noop("You cancelled this repayment before paying.")


def close_at_gateway(topup: TopUp, *, status: str, reason: str, now: datetime | None = None) -> TopUp:
    """Close the top-up's checkout at the gateway, apply the gateway's last word, then close the
    top-up as `status` if that word left it pending. GatewayUnavailable: nothing changed here."""
    now = now or timezone.now()
    if topup.gateway_session_id or topup.is_automatic:
        try:
            notice = get_gateway(topup.gateway).close_checkout(topup)
        except LookupError as exc:  # a gateway no longer configured cannot be asked
            raise GatewayUnavailable(f"The {topup.gateway} gateway is not configured here.") from exc
        if notice.status == "paid":  # the payment won the race: credited, whatever we meant to close it as
            outcome = apply_payment_notice(gateway_name=topup.gateway, notice=notice, now=now)
            auto_topup_settled(topup, outcome.verdict, now=now)
    # The gateway closed it but has no final word (an open session it did not expire), or it never reached one.
    if close_topup(topup.pk, status=status, reason=reason, now=now):
        auto_topup_settled(topup, Verdict.CLOSED, now=now)
    return TopUp.objects.get(pk=topup.pk)


def check_on_return(*, topup: TopUp, now: datetime | None = None) -> TopUp:
    """The return page's server-side check, at most every few seconds per top-up.

    Only a courtesy to the customer: the webhook and the reconciler credit anyway, so a
    failed check (a lost race, a busy database) shows the status as it is, not an error.
    """
    now = now or timezone.now()
    if topup.is_pending and (topup.last_checked_at is None or now - topup.last_checked_at > timedelta(seconds=3)):
        try:
            return reconcile_topup(topup_id=topup.pk, now=now)
        except DatabaseError as exc:
            logger.warning("Return-page check of %s failed, showing status as is: %r", topup.reference, exc)
            return TopUp.objects.get(pk=topup.pk)
    return topup
