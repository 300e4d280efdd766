"""Applying what a gateway says about a top-up — paid, failed, cancelled, expired — once.

Crediting is keyed on the TopUp row, so the same payment announced by a webhook, a
second kind of webhook, the return page's check and the reconciler credits once: the
row is locked while it is credited, and the one money-in function (accounts.ledger.
credit_deposit) answers a second credit for the same source with the first.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache, reduce

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from accounts import descriptions, review_notes
from accounts.descriptions import Description, describe, rate_text
from accounts.models import Account, LedgerEntry
from accounts.notifications import TemplatedEmail, queue_templated_email, recipient_language
from billing_center.moments import moment
from billing_center.review_flags import add_line, flag, stamp
from bills.settlement import credit_payment
from money.formatting import format_money, format_rate
from money.parsing import uuid_or_none

from .gateways import PaymentNotice
from .models import TopUp, WebhookDelivery

logger = logging.getLogger(__name__)
Verdict = WebhookDelivery.Verdict


# What the customer reads on a closed top-up; the raw event stays on the delivery.
# Stored in English on the top-up (failure_reason) and translated where they are shown.
CLOSE_REASONS = {
    "failed": gettext_noop("The payment was declined or failed at the payment gateway."),
    "cancelled": gettext_noop("The payment was cancelled on the payment page."),
    "expired": gettext_noop("The payment page expired before a payment was made."),
}


@dataclass(frozen=True)
class NoticeOutcome:
    verdict: str
    topup: TopUp | None = None


@dataclass(frozen=True)
class Decision:
    """What a verified payment notice does to its top-up, decided from the locked row alone.

    The one statement of the rules, for a notice applied alone (apply_payment_notice) and for
    a batch of stored deliveries (topups.batches): credit, already credited, flag a mismatch,
    close, or ignore."""

    verdict: str  # CREDITED (credit it), ALREADY_CREDITED, FLAGGED, CLOSED, IGNORED
    problem: str = ""  # FLAGGED: what differs
    close_as: str = ""  # CLOSED: the final status
    reason: str = ""  # CLOSED: the failure reason stored on the top-up


def decide(topup: TopUp | None, notice: PaymentNotice) -> Decision:
    """The rules for one notice about one locked top-up (None: not one of ours)."""
    if notice.status == "ignored" or not notice.reference or topup is None:
        # Genuine but not ours (another integration on the same provider account), or nothing to do.
        return Decision(Verdict.IGNORED)
    if notice.status == "paid":
        if topup.status == TopUp.Status.CREDITED:
            return Decision(Verdict.ALREADY_CREDITED)
        problem = _mismatch(topup, notice) or _paid_to_a_member(topup)
        if problem:
            return Decision(Verdict.FLAGGED, problem=problem)
        # A payment the gateway confirms is credited even if we had already closed the
        # top-up (a late payment after expiry): money received is never left uncredited.
        return Decision(Verdict.CREDITED)
    if notice.status in ("failed", "cancelled", "expired"):
        # Out-of-order or late news never takes a credited top-up back.
        if not topup.is_pending:
            return Decision(Verdict.IGNORED)
        reason = notice.detail or CLOSE_REASONS[notice.status]  # the gateway's own words when it gives them
        return Decision(Verdict.CLOSED, close_as=notice.status, reason=reason)
    return Decision(Verdict.IGNORED)


def keep_payment_intent(topup: TopUp, notice: PaymentNotice) -> bool:
    """Keep the provider's payment id from the first notice that names it (refunds and disputes
    name only the payment); whether it changed."""
    if notice.payment_intent_id and not topup.payment_intent_id:
        topup.payment_intent_id = notice.payment_intent_id
        return True
    return False


def mark_flagged(topup: TopUp, notice: PaymentNotice, problem: str, *, now: datetime) -> None:
    logger.error("Top-up %s not credited: %s", topup.reference, problem)
    flag(
        topup,
        describe(review_notes.NOTICE_PROBLEM, event=notice.event_type, id=notice.event_id, problem=problem),
        now=now,
    )


def mark_closed(topup: TopUp, *, status: str, reason: str, now: datetime) -> None:
    topup.status, topup.failure_reason, topup.closed_at = status, reason[:300], now


def mark_credited(topup: TopUp, *, now: datetime) -> None:
    """Set a top-up credited; the caller sets its ledger_entry once the credit is posted."""
    if topup.status != TopUp.Status.PENDING:
        add_line(topup, describe(review_notes.CREDITED_AFTER[topup.status], when=stamp(topup.closed_at)), now=now)
    topup.status = TopUp.Status.CREDITED
    topup.credited_at = now
    topup.failure_reason, topup.closed_at = "", None


CREDITED_FIELDS = [
    "status", "ledger_entry", "credited_at", "failure_reason", "closed_at", "review_note", "review_note_parts"
]  # fmt: skip


@transaction.atomic
def close_topup(topup_id: int, *, status: str, reason: str = "", now: datetime | None = None) -> bool:
    """Move a pending top-up to a final state; a top-up that is no longer pending is left alone."""
    topup = TopUp.objects.select_for_update().get(pk=topup_id)
    if not topup.is_pending:
        return False
    mark_closed(topup, status=status, reason=reason, now=now or timezone.now())
    topup.save(update_fields=["status", "failure_reason", "closed_at"])
    return True


def _paid_to_a_member(topup: TopUp) -> str:
    """A payment that completes after its account became an enterprise member (a late card payment of a top-up that
    had expired): a member's funds come from its master and it takes no top-up, so finance decides, as for a bank
    transfer quoting a member's reference. It had been credited, and the master could reclaim the payer's money
    (found by a helper)."""
    account = topup.account
    if account.type != Account.Type.ENTERPRISE_MEMBER:
        return ""
    master = Account.objects.filter(pk=account.enterprise_master_id).values_list("name", flat=True).first()
    return describe(review_notes.PAID_TO_MEMBER, master=master or "")


def _mismatch(topup: TopUp, notice: PaymentNotice) -> str:
    """What in the notice does not fit the top-up, as one description ("" when all fits)."""
    problems = []
    if notice.amount is None or notice.amount != topup.amount:
        problems.append(describe(review_notes.AMOUNT_DIFFERS, paid=notice.amount, expected=topup.amount))
    # Both gateways echo the owner and the session: a notice without them is not trusted either.
    if notice.account_ref != str(topup.account_id):
        account = notice.account_ref or "(none)"
        problems.append(describe(review_notes.ACCOUNT_DIFFERS, account=account, owner=topup.account_id))
    # An auto top-up whose charge's answer was lost has no session yet: the notice names it (its metadata; the
    # amount and the account are checked above), and crediting it keeps its payment's id.
    unknown = topup.is_automatic and not topup.gateway_session_id
    if notice.session_id != topup.gateway_session_id and not unknown:
        session, expected = notice.session_id or "(none)", topup.gateway_session_id or "(none)"
        problems.append(describe(review_notes.SESSION_DIFFERS, session=session, expected=expected))
    if not problems:
        return ""
    return reduce(lambda first, then: describe(review_notes.AND_ALSO, first=first, then=then), problems)


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
        .filter(gateway=gateway_name, public_id=uuid_or_none(notice.reference))
        .first()
    )
    if topup is None:
        return NoticeOutcome(Verdict.IGNORED)
    # The account's type read under its lock, after the top-up's, as every payment takes them: decide() asks whether
    # it is an enterprise member now (read with the top-up alone, a type change committing meanwhile had been missed;
    # found by a helper).
    locked = Account.objects.select_for_update().values_list("type", "enterprise_master_id")
    topup.account.type, topup.account.enterprise_master_id = locked.get(pk=topup.account_id)
    if keep_payment_intent(topup, notice):
        TopUp.objects.filter(pk=topup.pk).update(payment_intent_id=notice.payment_intent_id)
    decision = decide(topup, notice)
    if decision.verdict == Verdict.FLAGGED:
        mark_flagged(topup, notice, decision.problem, now=now)
        topup.save(update_fields=["needs_review", "review_note", "review_note_parts"])
    elif decision.verdict == Verdict.CREDITED and not _credit(topup, now=now):
        return NoticeOutcome(Verdict.ALREADY_CREDITED, topup)
    elif decision.verdict == Verdict.CLOSED:
        mark_closed(topup, status=decision.close_as, reason=decision.reason, now=now)
        topup.save(update_fields=["status", "failure_reason", "closed_at"])
    return NoticeOutcome(decision.verdict, topup)


def _credit(topup: TopUp, *, now: datetime) -> bool:
    """Credit a locked top-up through the one money-in function and mark it credited; False
    when its source was already credited (where row locks are not real, SQLite)."""
    deposit = credit_payment(
        kind=LedgerEntry.Kind.ONLINE_TOPUP,
        account_id=topup.account_id,
        amount=topup.credit_amount,
        source_ref=topup.ledger_source_ref,
        actor=topup.created_by,
        description=credit_description(topup, repays_bills=False),
        repayment_description=credit_description(topup, repays_bills=True),
        # A postpaid account's payment repays its bills, those it was started for first; another's is a top-up.
        bill_ids=[bill.pk for bill in topup.bills.all()] if topup.is_repayment else [],
        now=now,
    )
    if deposit.already_credited:
        return False
    mark_credited(topup, now=now)
    topup.ledger_entry = deposit.entry
    topup.save(update_fields=CREDITED_FIELDS)
    email = credited_email(topup)
    if email:
        with recipient_language(topup.created_by):
            queue_templated_email(
                dedupe_key=email.dedupe_key, to=email.to, subject=email.subject, template=email.template,
                context=email.context, account=email.account,
            )  # fmt: skip
    return True


def credit_description(topup: TopUp, *, repays_bills: bool) -> Description:
    """The entry's words for the payment as it is credited: a repayment when it repays bills, whatever it was
    started as (bills.settlement.credit_payment decides; a repayment paid after its account turned prepaid is
    a top-up)."""
    if repays_bills:  # bills.settlement.repay adds what it settles
        return describe(descriptions.ONLINE_REPAYMENT, reference=topup.reference)
    if not topup.is_converted:
        message = descriptions.AUTO_TOPUP if topup.is_automatic else descriptions.ONLINE_TOPUP
        return describe(message, reference=topup.reference)
    message = descriptions.AUTO_TOPUP_CONVERTED if topup.is_automatic else descriptions.ONLINE_TOPUP_CONVERTED
    rate = rate_text(topup.exchange_rate, topup.amount.currency, topup.credit_amount.currency)
    return describe(message, reference=topup.reference, paid=topup.amount, rate=rate)


def _kind_label(topup: TopUp) -> str:
    return (
        gettext("Repayment")
        if topup.is_repayment
        else gettext("Auto top-up")
        if topup.is_automatic
        else gettext("Top-up")
    )


def credited_email(topup: TopUp) -> TemplatedEmail | None:
    """The payer's receipt e-mail for a credited top-up, in the payer's language (the caller
    queues it through the outbox, in the credit's own transaction); None without an address."""
    payer = topup.created_by
    if not payer.email:
        logger.info("No e-mail address for %s; credit of %s not mailed", payer, topup.reference)
        return None
    with recipient_language(payer):
        context = _receipt_values(topup)
        subject = gettext("%(kind)s %(reference)s credited: %(amount)s") % {
            "kind": _kind_label(topup),
            "reference": context["reference"],
            "amount": context["credited"],
        }
    return TemplatedEmail(
        dedupe_key=f"topup-credited:{topup.public_id}",
        to=payer.email,
        subject=subject,
        template="topups/email_credited.txt",
        context=context,
        account=topup.account,
    )


def _receipt_values(topup: TopUp) -> dict[str, str | bool]:
    """What the receipt says, each value worked out here once in the reader's language, so the
    template only places plain text (a batch mails hundreds; tickets' statement mails do the same)."""
    payer, entry = topup.created_by, topup.ledger_entry
    return {
        "name": payer.get_full_name() or payer.username,
        "reference": topup.reference,
        "account": topup.account.name,
        "is_repayment": topup.repays_bills,
        "paid": format_money(topup.amount),
        "credited": format_money(topup.credit_amount),
        "rate": format_rate(topup.exchange_rate) if topup.is_converted else "",
        "credit_currency": str(topup.credit_amount.currency),
        "paid_currency": str(topup.amount.currency),
        "as_of": _moment(topup.rate_as_of),
        "credited_at": _moment(topup.credited_at),
        "balance_after": format_money(entry.balance_after) if entry else "—",
        "receipt_url": settings.SITE_URL + reverse("topups:receipt", args=[topup.public_id]),
    }


def _moment(value: datetime | None) -> str:
    """As pages show a moment (billing_center.moments): in the current time zone, with its offset from UTC; '' for
    none. It had been the zone's abbreviation, "CST", which names Chicago's time as well as Shanghai's."""
    if not value:
        return ""
    return _formatted_moment(value, translation.get_language(), timezone.get_current_timezone_name())


@lru_cache(maxsize=256)
def _formatted_moment(value: datetime, language: str, zone: str) -> str:
    """A batch's receipts share their credit time: formatted once per language and time zone."""
    return moment(value)
