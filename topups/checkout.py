"""Starting an online top-up: who may, how much, at which locked rate, and the gateway's
checkout page to redirect to. Nothing is credited here: the gateway's signed notification
(topups.notices) or the reconciler does that."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from djmoney.money import Money

from accounts.exceptions import TopUpNotAllowed
from accounts.models import Account
from money.errors import Conflict
from money.formatting import format_money
from money.rates import Quote, QuoteExpired, round_to_minor

from .exceptions import GatewayUnavailable, TopUpLimitExceeded
from .gateways import get_gateway
from .models import TopUp
from .notices import close_topup

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopUpLimits:
    minimum: Money
    maximum: Money
    daily: Money


def limits_for(currency: str) -> TopUpLimits:
    """The limits in an account's billing currency (TOPUP_LIMITS; the default currency's if unlisted)."""
    minimum, maximum, daily = settings.TOPUP_LIMITS.get(currency) or settings.TOPUP_LIMITS[settings.DEFAULT_CURRENCY]
    return TopUpLimits(Money(minimum, currency), Money(maximum, currency), Money(daily, currency))


def _paid_for(credit: Money, quote: Quote | None, rounding: str) -> str:
    """What paying `credit` takes in the quote's currency, to its minor unit (up for a minimum, down for a maximum)."""
    if quote is None:
        return ""
    paid = round_to_minor(credit.amount * quote.rate, quote.payment_currency, rounding)
    return format_money(Money(paid, quote.payment_currency))


def still_payable(now: datetime) -> Q:
    """Top-ups (or repayments) whose checkout can still be paid: pending, and not past its time to live;
    one whose checkout has expired can no longer be paid."""
    checkout_ttl = timedelta(minutes=settings.TOPUP_CHECKOUT_TTL_MINUTES)
    return Q(status=TopUp.Status.PENDING, created_at__gte=now - checkout_ttl)


def check_limits(*, account: Account, credit: Money, now: datetime, quote: Quote | None = None) -> None:
    """Limits are on what the account receives, in its billing currency; paid in another currency (`quote`), the
    refusal also says the limit in it (a payer in CNY had been told only "10.00 USD")."""
    limits = limits_for(account.billing_currency)
    if credit < limits.minimum:
        words = {"amount": format_money(limits.minimum), "paid": _paid_for(limits.minimum, quote, ROUND_UP)}
        if quote is None:
            raise TopUpLimitExceeded(_("The minimum top-up is %(amount)s.") % words)
        raise TopUpLimitExceeded(_("The minimum top-up is %(amount)s: %(paid)s at this rate.") % words)
    if credit > limits.maximum:
        words = {"amount": format_money(limits.maximum), "paid": _paid_for(limits.maximum, quote, ROUND_DOWN)}
        if quote is None:
            raise TopUpLimitExceeded(_("The maximum for one top-up is %(amount)s.") % words)
        raise TopUpLimitExceeded(_("The maximum for one top-up is %(amount)s: %(paid)s at this rate.") % words)
    # Open checkouts count too, or several of them could pass the cap together; so does an auto top-up still
    # pending, however old: its charge may have been taken, its answer lost (topups.auto_topup).
    unsettled_auto = Q(is_automatic=True, status=TopUp.Status.PENDING)
    recent = TopUp.objects.filter(account=account, created_at__gte=now - timedelta(hours=24)).filter(
        Q(status=TopUp.Status.CREDITED) | still_payable(now) | unsettled_auto
    ).aggregate(total=Sum("credit_amount"))["total"] or Decimal(0)
    if recent + credit.amount > limits.daily.amount:
        room = Money(max(limits.daily.amount - recent, Decimal(0)), account.billing_currency)
        raise TopUpLimitExceeded(
            _(
                "This would take your top-ups in the last 24 hours above the daily limit of %(daily)s. "
                "You can top up at most %(room)s more today; unpaid checkouts stop counting once they expire."
            )
            % {"daily": format_money(limits.daily), "room": format_money(room)}
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
    earlier = sent_before(account, request_key, amount=amount)
    if earlier is not None:
        return earlier, False
    paid_in = str(amount.currency)
    if paid_in != account.pay_currency:
        raise QuoteExpired(
            _("Your payment currency is now %(currency)s. Check the amount and try again.")
            % {"currency": account.pay_currency}
        )
    if paid_in == account.billing_currency:
        credit, quote = amount, None
    elif quote is None or (quote.billing_currency, quote.payment_currency) != (account.billing_currency, paid_in):
        raise QuoteExpired(_("A payment in another currency needs a current exchange-rate quote. Please try again."))
    else:
        credit = quote.credit_for(amount)
    check_limits(account=account, credit=credit, now=now, quote=quote)
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


def sent_before(account: Account, request_key: str, *, amount: Money | None) -> TopUp | None:
    """The payment this page started already (a double click, the form sent again), or None. The
    same page sent with another amount (Back, a new figure, Next) is refused: it had gone to pay the
    first amount without a word. None as the amount (a repayment of the chosen bills) asks nothing."""
    earlier = TopUp.objects.filter(account=account, request_key=request_key).first() if request_key else None
    if earlier is None or amount is None or earlier.amount == amount:
        return earlier
    raise Conflict(
        _(
            "This page was already sent for %(amount)s (%(reference)s). It now starts a new payment: "
            "check the amount and press the button again."
        )
        % {"amount": format_money(earlier.amount), "reference": earlier.reference},
        code="request_key_reused",
    )


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
    return open_checkout(topup)


def open_checkout(topup: TopUp) -> TopUp:
    """Open the gateway's checkout for a new pending top-up (or repayment), outside any
    transaction; a gateway that fails closes it as FAILED and nothing can be paid for it."""
    return_url = settings.SITE_URL + reverse("topups:detail", args=[topup.public_id])
    try:
        session = get_gateway(topup.gateway).start_checkout(
            topup, success_url=return_url, cancel_url=f"{return_url}?cancelled=1"
        )
    except GatewayUnavailable as exc:
        logger.warning("Checkout for %s not opened: %s", topup.reference, exc.message)
        close_topup(
            topup.pk,
            status=TopUp.Status.FAILED,
            reason=gettext_noop("The payment gateway could not be reached; nothing was charged."),
        )
        raise GatewayUnavailable(
            _(
                "The payment gateway is not responding right now. Nothing has been charged; "
                "please try again in a few minutes."
            )
        ) from exc
    except Exception:
        # Anything else (a bug, a refused field): no checkout exists, so none can be paid.
        logger.exception("Checkout for %s failed", topup.reference)
        close_topup(
            topup.pk,
            status=TopUp.Status.FAILED,
            reason=gettext_noop("The checkout could not be opened; nothing was charged."),
        )
        raise
    TopUp.objects.filter(pk=topup.pk).update(gateway_session_id=session.session_id, checkout_url=session.redirect_url)
    topup.gateway_session_id, topup.checkout_url = session.session_id, session.redirect_url
    return topup
