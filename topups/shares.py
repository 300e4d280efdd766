"""What of a card payment its refunds and chargebacks may take back, in the billing currency, at the rate its top-up
locked: one refund's share, a dispute's, and what both have taken so far. The parts of a payment always add up to its
credit, and together they never take more than came in (topups.refunds and topups.disputes ask here)."""

from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum
from django.utils.translation import gettext as _
from djmoney.money import Money

from money.errors import Invalid
from money.rates import round_to_minor

from .models import Refund, TopUp


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


def dispute_share(topup: TopUp, disputed: Money, *, dispute_id: str) -> Money:
    """What a dispute takes from the balance: what the card's bank took back, at the rate the top-up locked, but
    never more than is left of the credit after refunds that succeeded and other disputes' debits not returned.
    A refund still pending does not count: it had lowered the debit, then failed (Stripe refuses to refund a
    disputed charge), and the customer kept money the bank had taken (found by a helper)."""
    if disputed.currency != topup.amount.currency:
        return billing_share(topup, disputed)  # refused there, saying why
    refunded = topup.refunds.filter(status=Refund.Status.SUCCEEDED).aggregate(total=Sum("debit_amount"))["total"]
    others = topup.disputes.exclude(gateway_dispute_id=dispute_id).filter(
        debit_entry__isnull=False, return_entry__isnull=True
    )
    debited = others.aggregate(total=Sum("debit_amount"))["total"]
    left = topup.credit_amount.amount - Decimal(refunded or 0) - Decimal(debited or 0)
    share = _at_locked_rate(topup, min(disputed, topup.amount))
    return Money(max(min(share, left), Decimal(0)), topup.credit_amount.currency)


def taken_back(topup: TopUp) -> tuple[Decimal, Decimal]:
    """What the top-up's succeeded refunds, and its chargebacks less what won disputes returned, have taken from the
    balance so far: (by refunds, by disputes), in the billing currency."""
    refunded = topup.refunds.filter(status=Refund.Status.SUCCEEDED).aggregate(total=Sum("debit_amount"))["total"]
    moved = topup.disputes.aggregate(debits=Sum("debit_entry__amount"), returns=Sum("return_entry__amount"))
    return Decimal(refunded or 0), -Decimal(moved["debits"] or 0) - Decimal(moved["returns"] or 0)


def refunds_share(topup: TopUp) -> Decimal:
    """The part of the credit the succeeded refunds pay back, whatever the balance gave them (taken_back)."""
    paid = topup.refunds.filter(status=Refund.Status.SUCCEEDED).aggregate(total=Sum("amount"))["total"] or 0
    if paid >= topup.amount.amount:
        return topup.credit_amount.amount
    return _at_locked_rate(topup, Money(paid, topup.amount.currency))


def _at_locked_rate(topup: TopUp, paid: Money) -> Decimal:
    """An amount of the payment in the billing currency, at the rate the top-up locked, rounded to its cents."""
    share = topup.credit_amount.amount * paid.amount / topup.amount.amount
    return round_to_minor(share, str(topup.credit_amount.currency), ROUND_HALF_UP)
