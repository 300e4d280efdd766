"""Disputes (chargebacks) of credited card payments.

An inquiry (Stripe's warning_* statuses: the issuer asks before it charges back) takes no money: it is
flagged for finance, and either closes or becomes a dispute. The cardholder's bank takes the money back when a
dispute opens, so by default
(DISPUTE_POLICY="debit") the balance is debited then, once; a dispute won brings the money
back and is credited once; a lost one stays debited. With DISPUTE_POLICY="hold" the balance
is left alone while the dispute is open (the account and top-up are flagged) and debited
only if it is lost. Events arrive twice or out of order: whichever comes first creates the
dispute, the status only moves forward, and each posting has its own ledger source.
"""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from accounts.descriptions import DISPUTE_WON, DISPUTED, DISPUTED_NO_REASON, REPAYMENT_DISPUTED, describe
from accounts.ledger import credit_deposit, reverse_deposit
from accounts.lifecycle import flag_for_review
from accounts.models import LedgerEntry
from accounts.notifications import queue_templated_email, recipient_language
from accounts.outbound_webhooks.events import emit, money
from accounts.review_notes import DISPUTE_OPENED, PAYMENT_DISPUTED
from billing_center.review_flags import flag
from bills.models import REPAYMENT_CHARGEBACK
from bills.settlement import reopen_settled, repays_bills, settle_bills
from money.formatting import format_money

from .auto_topup import pause_after_dispute
from .gateways.base import DisputeNotice
from .models import Dispute, WebhookDelivery
from .refunds import payment_of
from .shares import dispute_share, so_far, won_return

Verdict = WebhookDelivery.Verdict
# A dispute's status only moves forward: an inquiry, a chargeback, its end.
STEP = {"inquiry": 0, "open": 1, "won": 2, "lost": 2, "closed": 2}
INQUIRY = ("inquiry", "closed")  # what Stripe's warning_* statuses become: no money moved


def _dispute_for(topup, notice: DisputeNotice) -> tuple[Dispute, bool]:
    """The dispute, locked, and whether this notice is the first we hear of it."""
    disputes = Dispute.objects.select_for_update()
    dispute = disputes.filter(gateway_dispute_id=notice.dispute_id).first()
    if dispute is not None:
        return dispute, False
    try:
        with transaction.atomic():
            created = Dispute.objects.create(
                topup=topup,
                status=Dispute.Status.INQUIRY if notice.status in INQUIRY else Dispute.Status.OPEN,
                gateway_dispute_id=notice.dispute_id,
                amount=notice.amount,
                debit_amount=dispute_share(topup, notice.amount, dispute_id=notice.dispute_id),
                reason=notice.reason,
            )
        return created, True
    except IntegrityError:  # two events for one new dispute at once
        return disputes.get(gateway_dispute_id=notice.dispute_id), False


@transaction.atomic
def apply_dispute_notice(*, gateway_name: str, notice: DisputeNotice, now: datetime | None = None) -> str:
    """Open, win or lose a dispute as the gateway says; returns the delivery's verdict."""
    now = now or timezone.now()
    topup = payment_of(gateway_name, notice.payment_intent_id, notice.charge_id)
    if topup is None or not notice.dispute_id:
        return Verdict.IGNORED
    dispute, changed = _dispute_for(topup, notice)
    if changed:  # the first news of it: flag the top-up and the account for finance, once
        flag(topup, describe(DISPUTE_OPENED, dispute=dispute.gateway_dispute_id, amount=dispute.debit_amount), now=now)
        topup.save(update_fields=["needs_review", "review_note", "review_note_parts"])
        flag_for_review(
            account_id=topup.account_id, note=describe(PAYMENT_DISPUTED, reference=topup.reference), now=now
        )
        pause_after_dispute(account_id=topup.account_id, reference=topup.reference, now=now)
    if STEP[notice.status] > STEP[dispute.status]:  # only forward
        dispute.status = notice.status
        dispute.closed_at = now if STEP[notice.status] == STEP[Dispute.Status.WON] else None
        changed = True
    holding = settings.DISPUTE_POLICY == "hold"
    # Nothing left of the credit to take (refunded already, whole): nothing to debit, and the flag above tells
    # finance to contest it; a debit of nought had been refused and the delivery retried for ever.
    chargeback = dispute.status not in INQUIRY  # an inquiry takes nothing (it may become a chargeback later)
    due = dispute.debit_entry_id is None and chargeback and (not holding or dispute.status == Dispute.Status.LOST)
    if due:
        # What is left to take now, not when the dispute was first heard of: a refund made during an inquiry
        # had been taken a second time when the inquiry became a chargeback (found by a helper).
        dispute.debit_amount = dispute_share(topup, dispute.amount, dispute_id=dispute.gateway_dispute_id)
    if due and dispute.debit_amount.amount > 0:
        # A repayment's chargeback comes off what the account repaid, and what it settled is unpaid again, only
        # while the account is postpaid: turned prepaid since, its balance says what it owes, and a bill reopened
        # as well had asked for the money twice (found by a helper).
        repayment = topup.repays_bills and repays_bills(topup.account_id)
        dispute.debit_entry = reverse_deposit(
            account_id=topup.account_id,
            amount=dispute.debit_amount,
            kind=LedgerEntry.Kind.DISPUTE,
            source_ref=_source(dispute, repayment=repayment),
            description=describe(DISPUTED, reference=topup.reference, reason=dispute.reason)
            if dispute.reason
            else describe(DISPUTED_NO_REASON, reference=topup.reference),
            now=now,
        ).entry
        if repayment:  # what it settled is unpaid again
            reopen_settled(
                account_id=topup.account_id,
                source_ref=dispute.debit_entry.source_ref,
                note=describe(REPAYMENT_DISPUTED, reference=topup.reference),
                now=now,
            )
        _email_payer(dispute, dispute.debit_entry)
        changed = True
    returned = _returned_if_won(dispute)
    if returned.amount > 0:
        # It mirrors its debit: the bills count it, and it settles them again, when they counted the debit and the
        # account is still postpaid (a prepaid top-up's chargeback won after the account turned postpaid had paid
        # bills the balance still owed; found by a helper).
        counted = dispute.debit_entry.source_ref.startswith(REPAYMENT_CHARGEBACK)
        repayment = counted and repays_bills(topup.account_id)
        dispute.return_entry = credit_deposit(
            account_id=topup.account_id,
            amount=returned,
            kind=LedgerEntry.Kind.DISPUTE_WON,
            source_ref=f"{_source(dispute, repayment=repayment)}:won",
            description=describe(DISPUTE_WON, reference=topup.reference),
            now=now,
        ).entry
        if repayment:  # the money is back: it settles the bills again
            settle_bills(
                account_id=topup.account_id,
                source_ref=dispute.return_entry.source_ref,
                note=describe(DISPUTE_WON, reference=topup.reference),
                now=now,
            )
        _email_payer(dispute, dispute.return_entry)
        changed = True
    if not changed:
        return Verdict.ALREADY_APPLIED
    dispute.save()
    state = {"dispute_id": dispute.gateway_dispute_id, "status": str(dispute.status), "topup": topup.reference}
    state |= {"amount": money(dispute.debit_amount), "balance_debited": dispute.debit_entry_id is not None}
    emit("dispute.updated", account_id=topup.account_id, data=state, now=now)
    return Verdict.DISPUTED


def held_open(account_id: int, currency) -> Money:
    """What the account's disputes held open (DISPUTE_POLICY="hold") will take if they are lost. The cardholder's
    bank has taken the money back from us already: it is promised like a refund not yet debited (accounts.promised),
    so it is neither allocated to members nor left behind by a change of type, which had let a lost dispute debit a
    postpaid account no bill collects, or a member its master funds.

    Each dispute counts what it would take now (topups.shares.dispute_share: less what the payment's refunds took
    meanwhile), and a payment's disputes at most what is left of its credit besides its refunds not debited yet,
    which accounts.promised counts already: a payment promises at most its credit (found by a helper)."""
    held = Dispute.objects.filter(topup__account_id=account_id, status=Dispute.Status.OPEN, debit_entry__isnull=True)
    by_payment = defaultdict(list)
    for dispute in held.select_related("topup").order_by("pk"):
        by_payment[dispute.topup_id].append(dispute)
    payments = so_far([disputes[0].topup for disputes in by_payment.values()])  # a few queries for any number
    total = Decimal(0)
    for pk, disputes in by_payment.items():
        topup, paid = disputes[0].topup, payments[pk]
        shares = (dispute_share(topup, d.amount, dispute_id=d.gateway_dispute_id, paid=paid) for d in disputes)
        left = topup.credit_amount.amount - paid.taken - paid.asked
        total += min(sum(share.amount for share in shares), max(left, Decimal(0)))
    return Money(total, currency)


def _returned_if_won(dispute: Dispute) -> Money:
    """What a won dispute gives back to the balance (topups.shares.won_return); nothing for a dispute not won, never
    debited, or returned already."""
    if dispute.status != Dispute.Status.WON or not dispute.debit_entry_id or dispute.return_entry_id:
        return Money(0, dispute.debit_amount.currency)
    return won_return(dispute.topup, dispute)


def _source(dispute: Dispute, *, repayment: bool) -> str:
    """The ledger source of a dispute's debit (and, with ":won", its return): a repayment's is named so bills count
    it (bills.settlement.REPAID); a prepaid top-up's, or one of an account that is not postpaid now, is not the
    bills' (it had eaten the next repayments)."""
    return f"{REPAYMENT_CHARGEBACK if repayment else 'dispute:'}{dispute.gateway_dispute_id}"


def _email_payer(dispute: Dispute, entry: LedgerEntry) -> None:
    """Tell whoever paid that the balance moved: the money taken when the bank took it back, or
    returned when the dispute was won. Once per posting (its entry's source keys the e-mail)."""
    topup = dispute.topup
    payer = topup.created_by
    if not payer.email:
        return
    returned = entry.kind == LedgerEntry.Kind.DISPUTE_WON
    with recipient_language(payer):
        names = {"reference": topup.reference, "amount": format_money(abs(entry.amount))}
        subject = (
            _("Dispute of %(reference)s won: %(amount)s returned to your balance")
            if returned
            else _("Payment %(reference)s disputed: %(amount)s taken from your balance")
        ) % names
        queue_templated_email(
            dedupe_key=f"dispute:{entry.source_ref}",
            to=payer.email,
            subject=subject,
            template="topups/email_disputed.txt",
            context={
                "dispute": dispute,
                "topup": topup,
                "entry": entry,
                "moved": abs(entry.amount),
                "returned": returned,
                "url": settings.SITE_URL + reverse("topups:detail", args=[topup.public_id]),
            },
            account=topup.account,
        )
