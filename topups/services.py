"""Every write to top-ups: start one, apply what a gateway says about it, reconcile, expire.

Crediting is keyed on the TopUp row, so the same payment announced by a webhook, a
second kind of webhook, the return page's check and the reconciler credits once: the
row is locked while it is credited, and the ledger's unique source behind it would
refuse a second entry even if the lock were missed.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from accounts.exceptions import TopUpNotAllowed
from accounts.models import Account, LedgerEntry
from accounts.services import post_ledger_entry, queue_email
from money.formatting import format_money, format_rate
from money.rates import Quote, QuoteExpired

from .exceptions import GatewayUnavailable, TopUpLimitExceeded
from .gateways import PaymentNotice, get_gateway
from .models import TopUp, WebhookDelivery

logger = logging.getLogger(__name__)
Verdict = WebhookDelivery.Verdict


# --- Starting a top-up ---------------------------------------------------------------


@dataclass(frozen=True)
class TopUpLimits:
    minimum: Money
    maximum: Money
    daily: Money


def limits_for(currency: str) -> TopUpLimits:
    """The limits in an account's billing currency (TOPUP_LIMITS; the default currency's if unlisted)."""
    minimum, maximum, daily = settings.TOPUP_LIMITS.get(currency) or settings.TOPUP_LIMITS[settings.DEFAULT_CURRENCY]
    return TopUpLimits(Money(minimum, currency), Money(maximum, currency), Money(daily, currency))


def _check_limits(*, account: Account, credit: Money, now: datetime) -> None:
    """Limits are on what the account receives, in its billing currency."""
    limits = limits_for(account.billing_currency)
    if credit < limits.minimum:
        raise TopUpLimitExceeded(f"The minimum top-up is {format_money(limits.minimum)}.")
    if credit > limits.maximum:
        raise TopUpLimitExceeded(f"The maximum for one top-up is {format_money(limits.maximum)}.")
    # Open checkouts count too, or several of them could pass the cap together; one
    # whose checkout has expired can no longer be paid and stops counting.
    checkout_ttl = timedelta(minutes=settings.TOPUP_CHECKOUT_TTL_MINUTES)
    recent = TopUp.objects.filter(account=account, created_at__gte=now - timedelta(hours=24)).filter(
        Q(status=TopUp.Status.CREDITED) | Q(status=TopUp.Status.PENDING, created_at__gte=now - checkout_ttl)
    ).aggregate(total=Sum("credit_amount"))["total"] or Decimal(0)
    if recent + credit.amount > limits.daily.amount:
        room = Money(max(limits.daily.amount - recent, Decimal(0)), account.billing_currency)
        raise TopUpLimitExceeded(
            f"This would take your top-ups in the last 24 hours above the daily limit of {format_money(limits.daily)}. "
            f"You can top up at most {format_money(room)} more today; unpaid checkouts stop counting once they expire."
        )


@transaction.atomic
def create_topup(
    *,
    account_id: int,
    actor,
    amount: Money,
    quote: Quote | None = None,
    request_key: str = "",
    now: datetime | None = None,
) -> tuple[TopUp, bool]:
    """Record a pending top-up after checking who may top up and how much.

    `amount` is what the customer pays, in their payment currency; when that is not the
    billing currency, `quote` is the rate they were shown, and it is stored with the row.
    Returns (top-up, created). A request key already used by this account returns the
    top-up that key created: a double click or a resubmitted form starts one top-up.
    """
    now = now or timezone.now()
    # The account lock serialises concurrent starts, so the daily cap and the request
    # key hold under races.
    account = Account.objects.select_for_update().get(pk=account_id)
    if not account.can_top_up:
        raise TopUpNotAllowed(account.topup_refusal)
    if request_key:
        earlier = TopUp.objects.filter(account=account, request_key=request_key).first()
        if earlier is not None:
            return earlier, False
    paid_in = str(amount.currency)
    if paid_in != account.pay_currency:
        raise QuoteExpired(f"Your payment currency is now {account.pay_currency}. Check the amount and try again.")
    if paid_in == account.billing_currency:
        credit, quote = amount, None
    elif quote is None or (quote.billing_currency, quote.payment_currency) != (account.billing_currency, paid_in):
        raise QuoteExpired("A payment in another currency needs a current exchange-rate quote. Please try again.")
    else:
        credit = quote.credit_for(amount)
    _check_limits(account=account, credit=credit, now=now)
    topup = TopUp.objects.create(
        account=account,
        created_by=actor,
        gateway=settings.PAYMENT_GATEWAY,
        amount=amount,
        credit_amount=credit,
        exchange_rate=quote.rate if quote else None,
        rate_source=quote.source if quote else "",
        rate_as_of=quote.as_of if quote else None,
        request_key=request_key,
    )
    return topup, True


def start_online_topup(
    *, account_id: int, actor, amount: Money, quote: Quote | None = None, request_key: str = ""
) -> TopUp:
    """Create the top-up, then open the gateway's checkout for it; returns it with checkout_url set.

    The gateway is called outside any transaction: a slow provider must not hold the
    account lock, and the pending row must exist before any money can move for it.
    Return URLs come from SITE_URL, never from the request's Host header.
    """
    topup, created = create_topup(
        account_id=account_id, actor=actor, amount=amount, quote=quote, request_key=request_key
    )
    if not created:
        return topup  # the same form submitted again: send it where the first one went
    return_url = settings.SITE_URL + reverse("topups:detail", args=[topup.public_id])
    try:
        session = get_gateway(topup.gateway).start_checkout(
            topup, success_url=return_url, cancel_url=f"{return_url}?cancelled=1"
        )
    except GatewayUnavailable as exc:
        logger.warning("Checkout for %s not opened: %s", topup.reference, exc.message)
        _close(
            topup.pk,
            status=TopUp.Status.FAILED,
            reason="The payment gateway could not be reached; nothing was charged.",
        )
        raise GatewayUnavailable(
            "The payment gateway is not responding right now. Nothing has been charged; "
            "please try again in a few minutes."
        ) from exc
    except Exception:
        # Anything else (a bug, a refused field): no checkout exists, so none can be paid.
        logger.exception("Checkout for %s failed", topup.reference)
        _close(topup.pk, status=TopUp.Status.FAILED, reason="The checkout could not be opened; nothing was charged.")
        raise
    TopUp.objects.filter(pk=topup.pk).update(gateway_session_id=session.session_id, checkout_url=session.redirect_url)
    topup.gateway_session_id, topup.checkout_url = session.session_id, session.redirect_url
    return topup


# --- Applying what the gateway says ---------------------------------------------------


# What the customer reads on a closed top-up; the raw event stays on the delivery.
CLOSE_REASONS = {
    "failed": "The payment was declined or failed at the payment gateway.",
    "cancelled": "The payment was cancelled on the payment page.",
    "expired": "The payment page expired before a payment was made.",
}


@dataclass(frozen=True)
class NoticeOutcome:
    verdict: str
    topup: TopUp | None = None


@transaction.atomic
def _close(topup_id: int, *, status: str, reason: str = "", now: datetime | None = None) -> bool:
    """Move a pending top-up to a final state; a top-up that is no longer pending is left alone."""
    topup = TopUp.objects.select_for_update().get(pk=topup_id)
    if not topup.is_pending:
        return False
    topup.status, topup.failure_reason, topup.closed_at = status, reason[:300], now or timezone.now()
    topup.save(update_fields=["status", "failure_reason", "closed_at"])
    return True


def _mismatch(topup: TopUp, notice: PaymentNotice) -> str:
    problems = []
    if notice.amount is None or notice.amount != topup.amount:
        problems.append(f"amount {notice.amount} differs from the expected {topup.amount}")
    # Both gateways echo the owner and the session: a notice without them is not trusted either.
    if notice.account_ref != str(topup.account_id):
        problems.append(f"account {notice.account_ref or '(none)'} differs from the owner {topup.account_id}")
    if notice.session_id != topup.gateway_session_id:
        problems.append(f"session {notice.session_id or '(none)'} differs from {topup.gateway_session_id or '(none)'}")
    return "; ".join(problems)


@transaction.atomic
def apply_payment_notice(*, gateway_name: str, notice: PaymentNotice, now: datetime | None = None) -> NoticeOutcome:
    """Credit, close or ignore the top-up a verified notice is about. Safe to repeat."""
    now = now or timezone.now()
    if notice.status == "ignored" or not notice.reference:
        return NoticeOutcome(Verdict.IGNORED)
    topup = (
        # The payer (the credit's actor) and the account (named in the e-mail) are read with
        # the row; only the top-up row is locked here, the account by the ledger writer.
        TopUp.objects.select_for_update(of=("self",))
        .select_related("created_by", "account")
        .filter(gateway=gateway_name, public_id=_uuid_or_none(notice.reference))
        .first()
    )
    if topup is None:
        # Genuine but not ours (another integration on the same provider account).
        return NoticeOutcome(Verdict.IGNORED)
    if notice.status == "paid":
        if topup.status == TopUp.Status.CREDITED:
            return NoticeOutcome(Verdict.ALREADY_CREDITED, topup)
        problem = _mismatch(topup, notice)
        if problem:
            logger.error("Top-up %s not credited: %s", topup.reference, problem)
            note = f"{now:%Y-%m-%d %H:%M} {notice.event_type} {notice.event_id}: {problem}"
            topup.needs_review = True
            topup.review_note = f"{topup.review_note}\n{note}".strip()
            topup.save(update_fields=["needs_review", "review_note"])
            return NoticeOutcome(Verdict.FLAGGED, topup)
        try:
            with transaction.atomic():
                _credit(topup, now=now)
        except IntegrityError:
            # Row locks are real on PostgreSQL; on SQLite another path may credit between
            # our read and our write, and the ledger's unique source refuses the second.
            if not LedgerEntry.objects.filter(
                kind=LedgerEntry.Kind.ONLINE_TOPUP, source_ref=topup.ledger_source_ref
            ).exists():
                raise
            return NoticeOutcome(Verdict.ALREADY_CREDITED, topup)
        return NoticeOutcome(Verdict.CREDITED, topup)
    if notice.status in ("failed", "cancelled", "expired"):
        # Out-of-order or late news never takes a credited top-up back.
        closed = _close(topup.pk, status=notice.status, reason=CLOSE_REASONS[notice.status], now=now)
        topup.refresh_from_db()
        return NoticeOutcome(Verdict.CLOSED if closed else Verdict.IGNORED, topup)
    return NoticeOutcome(Verdict.IGNORED, topup)


def _credit(topup: TopUp, *, now: datetime) -> None:
    """Post the credit for a locked top-up and mark it credited.

    A payment the gateway confirms is credited even if we had already closed the
    top-up (a late payment after expiry): money received is never left uncredited.
    """
    entry = post_ledger_entry(
        account_id=topup.account_id,
        amount=topup.credit_amount,
        kind=LedgerEntry.Kind.ONLINE_TOPUP,
        source_ref=topup.ledger_source_ref,
        actor=topup.created_by,
        description=_credit_description(topup),
    )
    if topup.status != TopUp.Status.PENDING:
        topup.review_note = (
            f"{topup.review_note}\nCredited after being {topup.status} at {topup.closed_at:%Y-%m-%d %H:%M}.".strip()
        )
    topup.status = TopUp.Status.CREDITED
    topup.ledger_entry = entry
    topup.credited_at = now
    topup.failure_reason, topup.closed_at = "", None
    topup.save(update_fields=["status", "ledger_entry", "credited_at", "failure_reason", "closed_at", "review_note"])
    _queue_credited_email(topup)


def _credit_description(topup: TopUp) -> str:
    text = f"Online top-up {topup.reference}"
    if topup.is_converted:
        rate = f"{format_rate(topup.exchange_rate)} {topup.amount.currency}/{topup.credit_amount.currency}"
        text += f": paid {format_money(topup.amount)} at {rate}"
    return text


def _queue_credited_email(topup: TopUp) -> None:
    """Tell the payer, through the outbox, in the credit's own transaction."""
    payer = topup.created_by
    if not payer.email:
        logger.info("No e-mail address for %s; credit of %s not mailed", payer, topup.reference)
        return
    receipt_url = settings.SITE_URL + reverse("topups:receipt", args=[topup.public_id])
    body = render_to_string("topups/email_credited.txt", {"topup": topup, "receipt_url": receipt_url})
    queue_email(
        dedupe_key=f"topup-credited:{topup.public_id}",
        to=payer.email,
        subject=f"Top-up {topup.reference} credited: {format_money(topup.credit_amount)}",
        body=body,
        account=topup.account,
    )


def _uuid_or_none(value: str):
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError):
        return None


# --- Webhook deliveries ----------------------------------------------------------------


def storable_text(body: bytes) -> str:
    """A delivery's body as text PostgreSQL can store: it refuses NUL characters in text."""
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def record_rejected_delivery(*, gateway_name: str, body: bytes, signature: str, error: str) -> WebhookDelivery:
    """Keep an unverified delivery for investigation; its content is not trusted, so only its start is kept."""
    return WebhookDelivery.objects.create(
        gateway=gateway_name,
        body=storable_text(body[:2000]),
        signature=signature[:1000].replace("\x00", "\ufffd"),
        verdict=Verdict.REJECTED,
        error=error[:2000],
        processed_at=timezone.now(),
    )


def receive_payment_notice(*, gateway_name: str, notice: PaymentNotice, body: bytes, signature: str) -> WebhookDelivery:
    """Store a verified delivery once per event id and apply it once.

    The delivery row is committed before processing, so a processing failure rolls back
    the credit but keeps the delivery with its error, and the gateway's retry picks it up.
    """
    text = storable_text(body)
    delivery, created = WebhookDelivery.objects.get_or_create(
        gateway=gateway_name,
        event_id=notice.event_id,
        defaults={"event_type": notice.event_type, "body": text, "signature": signature[:1000]},
    )
    if not created:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            delivery_count=F("delivery_count") + 1, last_received_at=timezone.now()
        )
        if delivery.body != text:
            # A provider never changes an event; a different body under a known id is
            # someone holding our secret, or a bug. Apply nothing new and say so.
            logger.error("Event %s %s redelivered with a different body", gateway_name, notice.event_id)
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                error="Redelivered with a different body; the new body was not applied."
            )
            return delivery
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
            if delivery.verdict not in (Verdict.RECEIVED, Verdict.ERROR):
                return delivery  # a redelivery of an event already applied
            outcome = apply_payment_notice(gateway_name=gateway_name, notice=notice)
            delivery.verdict = outcome.verdict
            delivery.topup = outcome.topup
            delivery.error = ""
            delivery.processed_at = timezone.now()
            delivery.save(update_fields=["verdict", "topup", "error", "processed_at"])
            return delivery
    except Exception as exc:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(verdict=Verdict.ERROR, error=repr(exc)[:2000])
        raise


# --- Reconciliation --------------------------------------------------------------------


def reconcile_topup(*, topup_id: int, now: datetime | None = None) -> TopUp:
    """Ask the gateway about a pending top-up and apply its answer through the same path."""
    now = now or timezone.now()
    topup = TopUp.objects.get(pk=topup_id)
    if not topup.is_pending or not topup.gateway_session_id:
        return topup
    TopUp.objects.filter(pk=topup.pk).update(last_checked_at=now)
    try:
        notice = get_gateway(topup.gateway).fetch_payment(topup)
    except (GatewayUnavailable, LookupError) as exc:
        logger.warning("Could not reconcile %s: %s", topup.reference, exc)
        return TopUp.objects.get(pk=topup.pk)
    apply_payment_notice(gateway_name=topup.gateway, notice=notice, now=now)
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
        notice = get_gateway(topup.gateway).close_checkout(topup)
    except (GatewayUnavailable, LookupError) as exc:
        logger.warning("Could not close the checkout of %s, will retry: %s", topup.reference, exc)
        return topup
    apply_payment_notice(gateway_name=topup.gateway, notice=notice, now=now)
    # The gateway closed it but has no final word (an open session it did not expire).
    _close(topup.pk, status=TopUp.Status.EXPIRED, reason=CLOSE_REASONS["expired"], now=now)
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
