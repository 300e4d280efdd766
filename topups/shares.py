"""What of a card payment its refunds and chargebacks may take back, in the billing currency, at the rate its top-up
locked: one refund's share, a dispute's, and what both have taken so far. The parts of a payment always add up to its
credit, and together they never take more than came in (topups.refunds and topups.disputes ask here)."""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum
from django.utils.translation import gettext as _
from djmoney.money import Money

from money.errors import Invalid
from money.rates import round_to_minor

from .models import Dispute, Refund, TopUp

NOT_DEBITED = (Refund.Status.REQUESTED, Refund.Status.PENDING)  # asked of the gateway, debited once they succeed


def refundable(topup: TopUp) -> Money:
    """What of the payment can still be refunded: paid, less every refund not failed."""
    taken = topup.refunds.exclude(status=Refund.Status.FAILED).aggregate(total=Sum("amount"))["total"] or 0
    return Money(topup.amount.amount - Decimal(taken), topup.amount.currency)


def billing_share(topup: TopUp, paid_back: Money) -> Money:
    """The part of the top-up's credit that `paid_back` (in the payment currency) takes back.

    At the rate the top-up locked, rounded to the billing currency; what completes the whole
    payment takes exactly what is left of the credit after earlier refunds, so the parts
    always add up to it.
    """
    if paid_back.currency != topup.amount.currency:
        raise Invalid(
            _("%(reference)s was paid in %(paid)s, not %(currency)s.")
            % {"reference": topup.reference, "paid": topup.amount.currency, "currency": paid_back.currency}
        )
    share = _at_locked_rate(topup, paid_back)
    earlier = topup.refunds.exclude(status=Refund.Status.FAILED)
    taken = earlier.aggregate(paid=Sum("amount"), debited=Sum("debit_amount"))
    credit_left = topup.credit_amount.amount - Decimal(taken["debited"] or 0)
    if Decimal(taken["paid"] or 0) + paid_back.amount >= topup.amount.amount:
        share = credit_left
    return Money(min(share, credit_left), topup.credit_amount.currency)


@dataclass(frozen=True)
class SoFar:
    """What a payment's refunds and chargebacks have done so far, in the billing currency."""

    refunded: Decimal  # the succeeded refunds' shares of the credit (what they paid back)
    asked: Decimal  # the shares of refunds asked of the gateway and not debited yet (NOT_DEBITED)
    taken: Decimal  # what they took from the balance, returns deducted: the ledger's own entries
    kept: dict = field(default_factory=dict)  # dispute id → what its bank took back and keeps (debited, not won)

    def holding(self, *, besides: str = "") -> Decimal:
        """What card banks keep of the payment: its chargebacks debited and not won, another's than `besides`."""
        return sum((amount for dispute, amount in self.kept.items() if dispute != besides), Decimal(0))


def so_far(topups) -> dict[int, SoFar]:
    """Each payment's SoFar, by top-up id, in two queries however many there are (an account's held disputes are
    summed over all its payments: topups.disputes.held_open)."""
    by_id = {topup.pk: topup for topup in topups}
    refunded, asked, taken, kept = defaultdict(Decimal), defaultdict(Decimal), defaultdict(Decimal), defaultdict(dict)
    refunds = Refund.objects.filter(topup_id__in=by_id)
    for pk, status, share, entry in refunds.values_list("topup_id", "status", "debit_amount", "ledger_entry__amount"):
        if status == Refund.Status.SUCCEEDED:
            refunded[pk] += share
        elif status in NOT_DEBITED:
            asked[pk] += share
        taken[pk] -= entry or 0
    disputes = Dispute.objects.filter(topup_id__in=by_id).values_list(
        "topup_id", "gateway_dispute_id", "status", "amount", "debit_entry__amount", "return_entry__amount"
    )
    for pk, dispute, status, amount, debit, returned in disputes:
        taken[pk] -= (debit or 0) + (returned or 0)
        if debit is not None and status != Dispute.Status.WON:
            topup = by_id[pk]
            kept[pk][dispute] = _at_locked_rate(topup, min(Money(amount, topup.amount.currency), topup.amount))
    return {pk: SoFar(refunded[pk], asked[pk], taken[pk], kept[pk]) for pk in by_id}


def dispute_share(topup: TopUp, disputed: Money, *, dispute_id: str, paid: SoFar | None = None) -> Money:
    """What a dispute takes from the balance when it is debited: what the card's bank took back, at the rate the
    top-up locked, less what the payment's refunds and other chargebacks have taken beyond their due (to_take).
    A refund still pending does not count: it had lowered the debit, then failed (Stripe refuses to refund a
    disputed charge), and the customer kept money the bank had taken (found by a helper). `paid`: the payment's
    so_far, when the caller read it already."""
    if disputed.currency != topup.amount.currency:
        return billing_share(topup, disputed)  # refused there, saying why
    paid = paid or so_far([topup])[topup.pk]
    share = _at_locked_rate(topup, min(disputed, topup.amount))
    due = to_take(topup, refunded=paid.refunded, holding=paid.holding(besides=dispute_id) + share)
    return Money(min(max(due - paid.taken, Decimal(0)), share), topup.credit_amount.currency)


def refund_debit(topup: TopUp, refund: Refund) -> Money:
    """What a refund that succeeded takes from the balance: its share of the credit (debit_amount), less what the
    payment's chargebacks took first. Stripe announces a refund made before a cardholder's dispute after it, at
    times, and both had been debited in full: twice what came in (found by a helper)."""
    share, paid = refund.debit_amount.amount, so_far([topup])[topup.pk]
    due = to_take(topup, refunded=paid.refunded + share, holding=paid.holding())
    return Money(min(max(due - paid.taken, Decimal(0)), share), topup.credit_amount.currency)


def won_return(topup: TopUp, dispute: Dispute) -> Money:
    """What a won dispute gives back: what its payment's refunds and other chargebacks have taken beyond their due
    once this one no longer holds money, at most its own debit. Less than its debit when a refund could not take
    its share while this dispute held the money, or when another dispute, lost, took less than its bank kept."""
    debit, paid = -dispute.debit_entry.amount.amount, so_far([topup])[topup.pk]
    due = to_take(topup, refunded=paid.refunded, holding=paid.holding(besides=dispute.gateway_dispute_id))
    return Money(min(max(paid.taken - due, Decimal(0)), debit), topup.credit_amount.currency)


def to_take(topup: TopUp, *, refunded: Decimal, holding: Decimal) -> Decimal:
    """What the balance owes back of the payment's credit: what its refunds paid back and what card banks hold,
    never more than the credit. Each refund and chargeback takes what brings `taken` up to it."""
    return min(topup.credit_amount.amount, refunded + holding)


def _at_locked_rate(topup: TopUp, paid: Money) -> Decimal:
    """An amount of the payment in the billing currency, at the rate the top-up locked, rounded to its cents."""
    share = topup.credit_amount.amount * paid.amount / topup.amount.amount
    return round_to_minor(share, str(topup.credit_amount.currency), ROUND_HALF_UP)
