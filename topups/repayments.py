"""Starting an online repayment of a postpaid account's bills: the same gateway redirect,
signed notification and exactly-once crediting as a top-up (topups.checkout, topups.notices).

A repayment is a TopUp with purpose REPAYMENT and the bills the customer chose. Nothing is
credited here: when the gateway confirms the payment, topups.notices credits it as a
repayment through bills.settlement.repay, which settles the chosen bills first.
"""

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from accounts.models import Account
from bills.models import Bill
from bills.selectors import outstanding_bills
from bills.settlement import unapplied_credit
from money.errors import Invalid
from money.formatting import format_money

from .checkout import limits_for, open_checkout, sent_before, still_payable
from .exceptions import RepaymentNotAllowed
from .models import TopUp


@transaction.atomic
def create_repayment(
    *, account_id: int, actor, amount: Money | None, bill_ids: list[int], request_key: str = ""
) -> tuple[TopUp, bool]:
    """Record a pending online repayment. `amount` None means: what the chosen bills still owe.

    The chosen bills must be the account's and unpaid; a repeated request key returns the
    repayment that key created (a double click starts one payment).
    """
    account = Account.objects.select_for_update().get(pk=account_id)
    if not account.is_postpaid:
        raise RepaymentNotAllowed()
    earlier = sent_before(account, request_key, amount=amount)
    if earlier is not None:
        return earlier, False
    bills = list(Bill.objects.filter(account=account, pk__in=bill_ids, status__in=Bill.OUTSTANDING))
    if len(bills) != len(set(bill_ids)):
        raise Invalid(_("Choose among your unpaid bills."), code="bad_bills")
    currency = account.billing_currency
    owed = sum((bill.remaining for bill in bills), Money(0, currency))
    if amount is None:
        if not bills:
            raise Invalid(_("Choose the bills to pay, or enter an amount."), code="nothing_to_pay")
        amount = owed
    if str(amount.currency) != currency:
        raise Invalid(
            _("Repayments are paid in the billing currency, %(currency)s.") % {"currency": currency}, code="currency"
        )
    _check_limits(account, amount, owed=owed if bills else None, now=timezone.now())
    topup = TopUp.objects.create(
        account=account,
        created_by=actor,
        gateway=settings.PAYMENT_GATEWAY,
        purpose=TopUp.Purpose.REPAYMENT,
        amount=amount,
        credit_amount=amount,
        request_key=request_key,
    )
    topup.bills.set(bills)
    return topup, True


def _check_limits(account: Account, amount: Money, *, owed: Money | None, now) -> None:
    """The top-up limits, where they fit a debt: below the minimum only to pay exactly what the chosen bills
    (or, none chosen, all the open bills) still owe; at most the maximum per payment; and no more than the
    daily limit held in advance beyond what the bills owe, counting the credit on account and the checkouts
    still open (card testing with 0.01, or unlimited advances, had been taken)."""
    limits, currency = limits_for(account.billing_currency), account.billing_currency
    outstanding = sum((bill.remaining for bill in outstanding_bills(account)), Money(0, currency))
    whole = outstanding if owed is None else owed
    if amount < limits.minimum and amount != whole:
        raise Invalid(
            _("The smallest online payment is %(minimum)s, unless it pays exactly what the bills owe (%(owed)s).")
            % {"minimum": format_money(limits.minimum), "owed": format_money(whole)},
            code="amount",
        )
    if amount > limits.maximum:
        raise Invalid(
            _("The most one online payment can be is %(amount)s.") % {"amount": format_money(limits.maximum)},
            code="amount",
        )
    open_checkouts = TopUp.objects.filter(account=account).filter(still_payable(now))
    waiting = open_checkouts.aggregate(total=Sum("credit_amount"))["total"] or Decimal(0)
    # Held in advance once everything open is paid: the credit on account, the open checkouts and this
    # payment, less what the bills owe.
    room = limits.daily.amount + outstanding.amount - unapplied_credit(account.pk, currency).amount - waiting
    if amount.amount > room:
        raise Invalid(
            _(
                "You can pay what your bills owe and up to %(daily)s in advance, counting your credit on account "
                "and payments not yet completed: at most %(room)s more now. Unpaid checkouts stop counting once "
                "they expire."
            )
            % {"daily": format_money(limits.daily), "room": format_money(Money(max(room, 0), currency))},
            code="amount",
        )


def start_online_repayment(
    *, account_id: int, actor, amount: Money | None, bill_ids: list[int], request_key: str = ""
) -> TopUp:
    """Create the repayment, then open the gateway's checkout; returns it with checkout_url set."""
    topup, created = create_repayment(
        account_id=account_id, actor=actor, amount=amount, bill_ids=bill_ids, request_key=request_key
    )
    return open_checkout(topup) if created else topup
