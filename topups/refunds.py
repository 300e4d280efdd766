"""Refunds of credited online top-ups: finance asks in admin, the gateway pays back, and the
balance is debited at most once — when the gateway says the refund succeeded, by whichever of its
answer, refund.updated or charge.refunded arrives first, however often — by its share of the credit, less
what the payment's chargebacks took first (topups.shares.refund_debit).

A refund made in the gateway's own dashboard arrives only as a notification; it is matched to
its top-up by the provider's payment ids, applied the same way and flagged for finance.
"""

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from accounts import descriptions
from accounts.descriptions import describe
from accounts.ledger import reverse_deposit
from accounts.models import Account, LedgerEntry
from accounts.notifications import queue_templated_email, recipient_language
from accounts.outbound_webhooks.events import emit, money
from accounts.promised import promised_out
from accounts.review_notes import (
    FAILED_AFTER_SUCCESS,
    REFUND_AFTER_CHARGEBACK,
    REFUND_AMOUNT_DIFFERS,
    REFUND_IN_DASHBOARD,
)
from billing_center.review_flags import flag
from money.errors import Conflict, Invalid
from money.formatting import format_money, minor_places
from money.parsing import uuid_or_none

from .exceptions import GatewayUnavailable, RefundConflict, RefundRefused
from .gateways import get_gateway
from .gateways.base import RefundNotice
from .models import Dispute, Refund, TopUp, WebhookDelivery
from .shares import NOT_DEBITED, billing_share, refund_debit, refundable, so_far

logger = logging.getLogger(__name__)
Verdict = WebhookDelivery.Verdict
REFUND_PERMISSION = "topups.refund_topup"
# A refund only moves forward; a late "pending" never undoes "succeeded".
ORDER = {Refund.Status.REQUESTED: 0, Refund.Status.PENDING: 1, Refund.Status.FAILED: 2, Refund.Status.SUCCEEDED: 2}


def repayment_refused(topup: TopUp) -> str:
    """Why a postpaid repayment is not refunded here. What it settled stays settled (paying it back
    would leave bills settled by nothing), and what it paid over the bills is the account's credit,
    which pays its next bills (bills.settlement.unapplied_credit counts repayments, not refunds)."""
    return _(
        "%(reference)s is a repayment of bills: it is not refunded from here. What it settled stays "
        "settled, and what it paid over its bills stays on the account as credit for the next bills."
    ) % {"reference": topup.reference}


def dispute_refused(topup: TopUp) -> str | None:
    """Why a disputed payment is not refunded here, or None: the cardholder's bank has taken the money back (or
    may), and a refund too had taken it from the balance twice (found by a helper); Stripe refuses to refund a
    disputed charge for the same reason. A dispute won leaves the payment refundable again."""
    dispute = topup.disputes.filter(status__in=(Dispute.Status.OPEN, Dispute.Status.LOST)).first()
    if dispute is None:
        return None
    return _(
        "%(reference)s is disputed (%(dispute)s, %(status)s): the card's bank decides what goes back, so nothing "
        "is refunded from here."
    ) % {"reference": topup.reference, "dispute": dispute.gateway_dispute_id, "status": dispute.get_status_display()}


def _require(actor) -> None:
    if not (actor.is_active and actor.is_staff and actor.has_perm(REFUND_PERMISSION)):
        raise RefundRefused(_("Only finance staff can refund a top-up."))


def request_refund(
    *,
    topup_id: int,
    amount: Money,
    reason: str,
    actor,
    override: bool = False,
    request_key: str = "",
    now: datetime | None = None,
) -> Refund:
    """Finance refunds a credited top-up, whole or in part: recorded, then asked of the gateway.

    A refund larger than the current balance needs override=True and a reason. The gateway is
    called outside any transaction under the idempotency key refund:<public_id>, so a retry
    (send_refund) can never refund twice; its answer goes through apply_refund_notice.

    `request_key` is the refund form's one-time key: the form sent again (a double click, or after
    the gateway did not answer) finds the refund it asked for and asks the gateway for that one again.
    """
    _require(actor)
    reason = reason.strip()
    with transaction.atomic():
        topup = TopUp.objects.select_for_update().get(pk=topup_id)
        refund = _sent_before(topup, request_key, amount)
        if refund is None:
            refund = _new_refund(topup, amount, reason=reason, actor=actor, override=override, request_key=request_key)
    return send_refund(refund_id=refund.pk, now=now)


def _sent_before(topup: TopUp, request_key: str, amount: Money) -> Refund | None:
    """The refund this form asked for already, or None; the form sent again with another amount is refused."""
    earlier = topup.refunds.filter(request_key=request_key).first() if request_key else None
    if earlier is not None and earlier.amount != amount:
        raise Conflict(
            _("This form was already sent for %(amount)s (%(refund)s). Open the refund form again for another.")
            % {"amount": format_money(earlier.amount), "refund": earlier.reference},
            code="request_key_reused",
        )
    return earlier


def _new_refund(topup: TopUp, amount: Money, *, reason: str, actor, override: bool, request_key: str) -> Refund:
    """Check a new refund of the locked top-up against what is left of it and the balance, and record it."""
    if topup.status != TopUp.Status.CREDITED:
        raise RefundRefused(
            _("%(reference)s is %(status)s: only credited top-ups.")
            % {"reference": topup.reference, "status": topup.get_status_display().lower()}
        )
    if topup.repays_bills:
        raise RefundRefused(repayment_refused(topup))
    if disputed := dispute_refused(topup):
        raise RefundRefused(disputed)
    if amount.amount <= 0:
        raise Invalid(_("A refund must be more than zero."), code="refund_amount")
    room = refundable(topup)
    if amount > room:
        raise RefundRefused(
            _("At most %(amount)s of %(reference)s can still be refunded.")
            % {"amount": format_money(room), "reference": topup.reference}
        )
    debit = billing_share(topup, amount)
    if debit.amount <= 0:  # the gateway would pay it back, and the ledger could never debit it
        smallest = Money(Decimal(1).scaleb(-minor_places(str(debit.currency))), debit.currency)
        raise Invalid(
            _("%(amount)s is less than %(smallest)s of the credit at the rate %(reference)s locked: refund more.")
            % {"amount": format_money(amount), "smallest": format_money(smallest), "reference": topup.reference},
            code="refund_amount",
        )
    # The account's row lock: two clerks refunding its top-ups at once are checked one after the other.
    account = Account.objects.select_for_update().get(pk=topup.account_id)
    balance = account.balance
    if others := _not_the_top_ups(account):
        if not override:
            raise RefundRefused(others)
        balance = Money(0, balance.currency)
    promised = promised_out(topup.account_id, str(debit.currency))
    if debit > balance - promised and not override:
        raise RefundRefused(
            _(
                "This refund takes %(debit)s from a balance of %(balance)s, of which %(promised)s is promised to "
                "refunds not completed yet or held for open disputes. To refund anyway, tick the override and give "
                "the reason."
            )
            % {"debit": format_money(debit), "balance": format_money(balance), "promised": format_money(promised)}
            if promised.amount
            else _(
                "This refund takes %(debit)s from a balance of %(balance)s. "
                "To refund anyway, tick the override and give the reason."
            )
            % {"debit": format_money(debit), "balance": format_money(balance)}
        )
    balance -= promised
    if debit > balance and not reason:
        raise Invalid(_("Give the reason for refunding more than the balance."), code="override_reason")
    return Refund.objects.create(
        topup=topup,
        amount=amount,
        debit_amount=debit,
        reason=reason,
        balance_override=debit > balance,
        requested_by=actor,
        request_key=request_key,
    )


def _not_the_top_ups(account: Account) -> str:
    """Why the balance of an account that changed type since its prepaid days is not the refunded top-up's money
    ("" when it is): a postpaid account's is repaid money its bills will take, a member's is what its master
    allocated. Checked against it, a refund had spent the bills' credit (a bill marked paid with money owed) or the
    master's money (found by helpers). Finance may still refund, knowingly, with the override."""
    names = {"account": account.name, "balance": format_money(account.balance)}
    if account.is_postpaid:
        return (
            _(
                "%(account)s is postpaid now: its balance of %(balance)s is repaid money its bills will take, not this "
                "top-up's. To refund anyway, tick the override and give the reason; no bill will ask for the refunded "
                "money."
            )
            % names
        )
    if account.type == Account.Type.ENTERPRISE_MEMBER:
        return (
            _(
                "%(account)s is an enterprise member now: its balance of %(balance)s is what its master allocated, not "
                "this top-up's. To refund anyway, tick the override and give the reason; the refund takes it from "
                "what the master allocated."
            )
            % names
        )
    return ""


def not_yet_debited(account_id: int, currency) -> Money:
    """What the account's refunds asked of the gateway but not yet debited will take (a refund is debited
    when the gateway says it succeeded): a second refund checked against the balance alone had passed."""
    unfinished = Refund.objects.filter(topup__account_id=account_id, status__in=NOT_DEBITED)
    return Money(unfinished.aggregate(total=Sum("debit_amount"))["total"] or 0, currency)


def send_refund(*, refund_id: int, now: datetime | None = None) -> Refund:
    """Ask the gateway for a recorded refund (again: the idempotency key finds the first try)."""
    refund = Refund.objects.select_related("topup").get(pk=refund_id)
    if refund.status != Refund.Status.REQUESTED:
        return refund
    try:
        notice = get_gateway(refund.topup.gateway).refund(refund)
    except GatewayUnavailable as exc:
        Refund.objects.filter(pk=refund.pk).update(failure_reason=exc.message[:300])
        raise
    except RefundConflict as exc:
        Refund.objects.filter(pk=refund.pk, status=Refund.Status.REQUESTED).update(
            status=Refund.Status.FAILED, failure_reason=exc.message[:300]
        )
        raise
    apply_refund_notice(gateway_name=refund.topup.gateway, notice=notice, now=now)
    return Refund.objects.get(pk=refund.pk)


def payment_of(gateway_name: str, payment_intent_id: str, charge_id: str) -> TopUp | None:
    """The top-up a provider's payment ids name; locked, since it is the refund's source."""
    match = Q(pk__in=[])
    if payment_intent_id:
        match |= Q(payment_intent_id=payment_intent_id)
    if charge_id:
        match |= Q(charge_id=charge_id)
    return TopUp.objects.select_for_update().filter(match, gateway=gateway_name).first()


def _find_or_record(gateway_name: str, notice: RefundNotice, now: datetime) -> Refund | None:
    """Our refund this notice is about; a dashboard refund is recorded here, flagged."""
    refunds = Refund.objects.select_for_update().select_related("topup")
    refund = None
    if notice.refund_id:  # an empty id would match every refund the gateway has not answered yet
        refund = refunds.filter(gateway_refund_id=notice.refund_id, topup__gateway=gateway_name).first()
    if refund is None and uuid_or_none(notice.reference):
        refund = refunds.filter(public_id=uuid_or_none(notice.reference), topup__gateway=gateway_name).first()
    if refund is not None:
        return refund
    topup = payment_of(gateway_name, notice.payment_intent_id, notice.charge_id)
    if topup is None or not notice.refund_id:
        return None  # not a payment of ours (another integration on the same provider account)
    refund = Refund(
        topup=topup,
        gateway_refund_id=notice.refund_id,
        amount=notice.amount,
        debit_amount=billing_share(topup, notice.amount),
        origin=Refund.Origin.GATEWAY,
        reason=f"Made in the {gateway_name} dashboard.",
    )
    flag(refund, describe(REFUND_IN_DASHBOARD, gateway=gateway_name), now=now)
    try:
        with transaction.atomic():
            refund.save()
            return refund
    except IntegrityError:  # the same refund announced by two events at once
        return refunds.get(gateway_refund_id=notice.refund_id)


@transaction.atomic
def apply_refund_notice(*, gateway_name: str, notice: RefundNotice, now: datetime | None = None) -> str:
    """Move a refund forward by what the gateway says; debit the balance once on success.
    Returns the delivery's verdict. Safe to repeat and to receive out of order."""
    now = now or timezone.now()
    refund = _find_or_record(gateway_name, notice, now)
    if refund is None:
        return Verdict.IGNORED
    topup = refund.topup
    fields = []
    if not refund.gateway_refund_id and notice.refund_id:
        refund.gateway_refund_id = notice.refund_id
        fields.append("gateway_refund_id")
    if notice.charge_id and not topup.charge_id:
        TopUp.objects.filter(pk=topup.pk).update(charge_id=notice.charge_id)
    if notice.amount != refund.amount:
        problem = describe(REFUND_AMOUNT_DIFFERS, reported=notice.amount, asked=refund.amount)
        flag(refund, problem, now=now)
        refund.failure_reason = problem[:300]
        refund.save(update_fields=[*fields, "needs_review", "review_note", "review_note_parts", "failure_reason"])
        return Verdict.FLAGGED
    target = {"pending": Refund.Status.PENDING, "succeeded": Refund.Status.SUCCEEDED, "failed": Refund.Status.FAILED}
    status = target[notice.status]
    if ORDER[status] <= ORDER[refund.status]:
        if fields:
            refund.save(update_fields=fields)
        if refund.status == Refund.Status.SUCCEEDED and status == Refund.Status.FAILED:
            logger.error("Refund %s reported failed after it succeeded; left for finance", refund.reference)
            flag(refund, describe(FAILED_AFTER_SUCCESS, detail=notice.detail), now=now)
            refund.failure_reason = notice.detail[:300]
            refund.save(update_fields=["needs_review", "review_note", "review_note_parts", "failure_reason"])
        return Verdict.ALREADY_APPLIED
    refund.status = status
    fields.append("status")
    if status == Refund.Status.FAILED:
        refund.failure_reason = (notice.detail or "The gateway could not refund this payment.")[:300]
        refund.save(update_fields=[*fields, "failure_reason"])
        return Verdict.UPDATED
    if status == Refund.Status.SUCCEEDED:
        debit = _within_what_is_left(refund, now=now)
        refund.succeeded_at = now
        fields += ["needs_review", "review_note", "review_note_parts", "succeeded_at"]
        if debit.amount > 0:
            refund.ledger_entry = reverse_deposit(
                account_id=topup.account_id,
                amount=debit,
                kind=LedgerEntry.Kind.REFUND,
                source_ref=refund.ledger_source_ref,
                actor=refund.requested_by,
                description=describe(descriptions.REFUND, refund=refund.reference, reference=topup.reference),
                now=now,
            ).entry
            fields.append("ledger_entry")
        _email_customer(refund)
        paid_back = {"refund": refund.reference, "topup": topup.reference, "amount": money(debit)}
        emit("refund.created", account_id=topup.account_id, data=paid_back, now=now)
    refund.save(update_fields=fields)
    return Verdict.REFUNDED if status == Refund.Status.SUCCEEDED else Verdict.UPDATED


def _within_what_is_left(refund: Refund, *, now: datetime) -> Money:
    """What the succeeded refund takes from the balance (topups.shares.refund_debit); when its payment's
    chargebacks took part of its share first, it is flagged, saying so: the rest comes off what a won dispute
    returns (topups.disputes)."""
    topup = refund.topup
    debit = refund_debit(topup, refund)
    if debit < refund.debit_amount:
        taken = Money(so_far([topup])[topup.pk].holding(), topup.credit_amount.currency)
        flag(refund, describe(REFUND_AFTER_CHARGEBACK, taken=taken, debit=debit), now=now)
    return debit


def _email_customer(refund: Refund) -> None:
    payer = refund.topup.created_by
    if not payer.email:
        return
    with recipient_language(payer):
        queue_templated_email(
            dedupe_key=f"refund:{refund.public_id}",
            to=payer.email,
            subject=_("Refund %(reference)s: %(amount)s paid back")
            % {"reference": refund.reference, "amount": format_money(refund.amount)},
            template="topups/email_refunded.txt",
            context={
                "refund": refund,
                "topup": refund.topup,
                "url": settings.SITE_URL + reverse("topups:detail", args=[refund.topup.public_id]),
            },
            account=refund.topup.account,
        )
