"""Auto top-up: when the balance falls below the customer's threshold, charge the saved card
their amount — once per crossing, never above the daily and monthly ceilings — and credit it
through the same notification path as any top-up.

The ledger writer notices the crossing under the account row's lock (Account.refill_below,
accounts.low_balance) and a worker runs run_auto_topup after commit. Each crossing's top-up
has the request key auto:<n>, unique per account: even a repeated task cannot pay twice.
A declined charge, or one that needs the customer (3-D Secure), is shown on the Overview,
e-mailed and texted; after three in a row auto top-up pauses until the customer turns it on.
"""

import logging
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from djmoney.money import Money

from accounts.exceptions import TopUpNotAllowed
from accounts.models import Account, AlertRecipient
from accounts.notifications import publish, publish_after_commit, queue_email, queue_sms, recipient_language
from money.errors import Invalid, Refused
from money.formatting import format_money
from money.parsing import is_digits

from .checkout import check_limits, limits_for
from .exceptions import GatewayUnavailable, TopUpLimitExceeded
from .gateways import get_gateway
from .gateways.base import CardNotice
from .models import AutoTopUp, TopUp, WebhookDelivery
from .notices import apply_payment_notice, close_topup

logger = logging.getLogger(__name__)
Verdict = WebhookDelivery.Verdict


def _settings_for(account: Account, actor) -> AutoTopUp:
    auto, _ = AutoTopUp.objects.get_or_create(account=account, defaults={"owner": actor})
    return AutoTopUp.objects.select_for_update().get(pk=auto.pk)


def _follow(account: Account, auto: AutoTopUp, *, was_active: bool) -> None:
    """Point the ledger's refill trigger at the threshold, or clear it. Below it already, this is
    a crossing of its own (numbered like the ledger's), started now — unless auto top-up was
    already on and below, where saving the settings again must not charge the card again."""
    below = auto.threshold if auto.is_active else None
    armed = below is None or account.balance.amount >= below
    crossing_pending = was_active and account.refill_below is not None and not account.refill_armed
    new_crossing = not armed and not crossing_pending
    crossings = account.refill_crossings + (1 if new_crossing else 0)
    Account.objects.filter(pk=account.pk).update(refill_below=below, refill_armed=armed, refill_crossings=crossings)
    if new_crossing:
        start_after_commit(account.pk)


def configure(
    *,
    account_id: int,
    actor,
    enabled: bool,
    threshold: Decimal,
    amount: Decimal,
    daily_ceiling: Decimal,
    monthly_ceiling: Decimal,
) -> AutoTopUp:
    """Save the settings. Turning it on needs a saved card, and clears a pause."""
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        if not account.can_top_up:
            raise TopUpNotAllowed(account.topup_refusal)
        limits = limits_for(account.billing_currency)
        if threshold < 0:
            raise Invalid(gettext("The threshold cannot be negative."), code="threshold")
        if not limits.minimum.amount <= amount <= limits.maximum.amount:
            raise Invalid(
                gettext("Top up between %(minimum)s and %(maximum)s at a time.")
                % {"minimum": format_money(limits.minimum), "maximum": format_money(limits.maximum)},
                code="amount",
            )
        if daily_ceiling < amount or monthly_ceiling < daily_ceiling:  # said at the field that is short
            raise Invalid(
                gettext("The daily ceiling must be at least one top-up, and the monthly one at least the daily one."),
                code="ceiling" if daily_ceiling < amount else "monthly_ceiling",
            )
        if daily_ceiling > limits.daily.amount:  # the account's own top-up limit counts auto top-ups too
            raise Invalid(
                gettext("The daily ceiling can be at most the daily top-up limit, %(daily)s.")
                % {"daily": format_money(limits.daily)},
                code="ceiling",
            )
        auto = _settings_for(account, actor)
        was_active = auto.is_active
        if enabled and not auto.has_card:
            raise Refused(gettext("Save a card first: auto top-up charges it."), code="no_card")
        if enabled and (not auto.enabled or auto.paused_at is not None):
            auto.failures_in_a_row, auto.paused_at = 0, None
        auto.enabled, auto.threshold, auto.amount = enabled, threshold, amount
        auto.daily_ceiling, auto.monthly_ceiling = daily_ceiling, monthly_ceiling
        auto._history_user = actor
        auto.save()
        _follow(account, auto, was_active=was_active)
        return auto


def start_card_setup(*, account_id: int, actor) -> str:
    """Open the gateway's save-a-card page; returns where to send the customer."""
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        if not account.can_top_up:
            raise TopUpNotAllowed(account.topup_refusal)
        auto = _settings_for(account, actor)
        auto.gateway = settings.PAYMENT_GATEWAY
        auto.save(update_fields=["gateway"])
    return_url = settings.SITE_URL + reverse("topups:auto")
    session = get_gateway(auto.gateway).start_card_setup(
        auto, success_url=f"{return_url}?card=saved", cancel_url=f"{return_url}?card=cancelled"
    )
    AutoTopUp.objects.filter(pk=auto.pk).update(setup_session_id=session.session_id)
    return session.redirect_url


@transaction.atomic
def save_card(*, gateway_name: str, notice: CardNotice, now: datetime | None = None) -> str:
    """Keep the card the payer saved, if it was saved for this account's own setup session."""
    auto = (
        AutoTopUp.objects.select_for_update()
        .filter(account_id=int(notice.account_ref) if is_digits(notice.account_ref, max_length=18) else None)
        .filter(gateway=gateway_name)
        .first()
    )
    if auto is None or not notice.payment_method_id:
        return Verdict.IGNORED
    if notice.session_id and notice.session_id != auto.setup_session_id:
        return Verdict.IGNORED  # an older setup session: the newest card wins
    if auto.payment_method_id == notice.payment_method_id:
        return Verdict.ALREADY_APPLIED
    auto.payment_method_id, auto.card_label = notice.payment_method_id, notice.label
    auto.gateway_customer_id = notice.customer_id or auto.gateway_customer_id
    auto.card_saved_at = now or timezone.now()
    auto.save(update_fields=["payment_method_id", "card_label", "gateway_customer_id", "card_saved_at"])
    return Verdict.UPDATED


def check_card_setup(*, auto: AutoTopUp) -> AutoTopUp:
    """The return page's courtesy check: ask the gateway for the card the customer just saved
    (a first card, or one replacing the card on file)."""
    if not auto.setup_session_id:
        return auto
    notice = get_gateway(auto.gateway).fetch_card_setup(auto)
    if notice is not None:
        save_card(gateway_name=auto.gateway, notice=replace(notice, session_id=auto.setup_session_id))
    return AutoTopUp.objects.get(pk=auto.pk)


def remove_card(*, account_id: int, actor) -> AutoTopUp | None:
    """Forget the card; auto top-up cannot run without one, so it is turned off (and unpaused)."""
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        if not account.can_top_up:
            raise TopUpNotAllowed(account.topup_refusal)
        auto = AutoTopUp.objects.select_for_update().filter(account=account).first()
        if auto is None:
            return None
        auto.payment_method_id = auto.card_label = auto.setup_session_id = ""
        auto.card_saved_at, auto.enabled, auto.paused_at, auto.failures_in_a_row = None, False, None, 0
        auto.last_problem = ""
        auto._history_user = actor
        auto.save()
        _follow(account, auto, was_active=False)
        return auto


def start_after_commit(account_id: int) -> None:
    from .tasks import run_auto_topup as task  # tasks import this module

    publish_after_commit(task, account_id)


def publish_run(account_id: int) -> None:
    """The ledger's refill handler (accounts.low_balance): already after commit, so publish now."""
    from .tasks import run_auto_topup as task

    publish(task, account_id)


def sweep_auto_topups(*, now: datetime | None = None) -> int:
    """Beat's safety net: crossings whose task was lost (a broker outage) are run now."""
    due = AutoTopUp.objects.filter(
        enabled=True, paused_at__isnull=True, account__refill_crossings__gt=F("crossings")
    ).values_list("account_id", flat=True)
    return sum(run_auto_topup(account_id=account_id, now=now) is not None for account_id in list(due[:1000]))


def _spent_since(auto: AutoTopUp, since: datetime) -> Decimal:
    """Auto top-ups counted against a ceiling: credited, or still being paid."""
    counted = TopUp.objects.filter(
        account_id=auto.account_id,
        is_automatic=True,
        created_at__gte=since,
        status__in=[TopUp.Status.PENDING, TopUp.Status.CREDITED],
    )
    return counted.aggregate(total=Sum("credit_amount"))["total"] or Decimal(0)


def run_auto_topup(*, account_id: int, now: datetime | None = None) -> TopUp | None:
    """The worker's half of a crossing: one top-up, charged off-session, credited or failed."""
    now = now or timezone.now()
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        auto = AutoTopUp.objects.select_for_update().filter(account=account).first()
        if auto is None or not auto.is_active or not account.can_top_up:
            return None
        crossing = account.refill_crossings
        if crossing <= auto.crossings:
            return None  # this crossing is handled already (a repeated task)
        if account.balance.amount >= auto.threshold:
            auto.crossings = crossing
            auto.save(update_fields=["crossings"])
            return None  # topped up some other way since the crossing
        # The ceilings' day and month are finance's, as bills and budgets count them (the server's UTC day had let
        # two full charges through on one Shanghai day; found by a helper).
        local = timezone.localtime(now, ZoneInfo(settings.FINANCE_TIME_ZONE))
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if (
            _spent_since(auto, day) + auto.amount > auto.daily_ceiling
            or _spent_since(auto, day.replace(day=1)) + auto.amount > auto.monthly_ceiling
        ):
            # The crossing stays unhandled: beat's sweep tries again, and charges once the
            # ceiling's day or month has turned. The customer is told once (the outbox dedupes).
            _problem(
                auto,
                lambda: gettext("Auto top-up reached your daily or monthly ceiling; it tops up again when it resets."),
                now,
                count=False,
            )
            return None
        try:  # the account's own limits, every top-up counted, as the Pay page checks them
            check_limits(account=account, credit=Money(auto.amount, account.billing_currency), now=now)
        except TopUpLimitExceeded:  # stays unhandled, as at the ceilings: tried again once the day has room
            _problem(
                auto,
                lambda: gettext("Auto top-up did not run: your top-ups in the last 24 hours reached the daily limit."),
                now,
                count=False,
            )
            return None
        auto.crossings = crossing
        auto.save(update_fields=["crossings"])
        amount = Money(auto.amount, account.billing_currency)
        topup = TopUp.objects.create(
            account=account,
            created_by=auto.owner,
            gateway=auto.gateway,
            amount=amount,
            credit_amount=amount,
            request_key=f"auto:{crossing}",
            is_automatic=True,
        )
    try:
        notice = get_gateway(topup.gateway).charge_saved_card(topup, auto)
    except GatewayUnavailable as exc:
        # The charge may have been taken and its answer lost: the top-up stays pending, and its notification or
        # the reconciler (which asks the gateway) credits it, or closes it and tells the customer (had: closed
        # as "nothing was charged", and the payment Stripe took was never credited; found by a helper).
        logger.warning("Auto top-up %s: no answer from the gateway, left to the reconciler: %s", topup.reference, exc)
        return TopUp.objects.get(pk=topup.pk)
    except Exception:
        # A bug must not leave a top-up pending for ever, nor pass unseen: close it, then raise.
        _give_up(auto, topup, gettext_noop("The card could not be charged; nothing was charged."), now)
        raise
    TopUp.objects.filter(pk=topup.pk).update(gateway_session_id=notice.session_id)
    outcome = apply_payment_notice(gateway_name=topup.gateway, notice=notice, now=now)
    auto_topup_settled(topup, outcome.verdict, now=now)
    return TopUp.objects.get(pk=topup.pk)


def auto_topup_settled(topup: TopUp, verdict: str, *, now: datetime) -> None:
    """A notice that credited or closed an auto top-up (its charge's answer, its webhook, or the reconciler's
    question) counts and tells the outcome; whichever moved the top-up does, so it is told once (a decline
    announced by webhook had been neither counted nor told; found by a helper)."""
    if not topup.is_automatic or verdict not in (WebhookDelivery.Verdict.CREDITED, WebhookDelivery.Verdict.CLOSED):
        return
    auto = AutoTopUp.objects.filter(account_id=topup.account_id).first()
    if auto is not None:
        reason = TopUp.objects.values_list("failure_reason", flat=True).get(pk=topup.pk)
        _after_charge(auto, topup.pk, reason or gettext_noop("The card was declined."), now)


def _give_up(auto: AutoTopUp, topup: TopUp, reason: str, now: datetime) -> None:
    if close_topup(topup.pk, status=TopUp.Status.FAILED, reason=reason):
        _after_charge(auto, topup.pk, reason, now)


@transaction.atomic
def _after_charge(auto: AutoTopUp, topup_id: int, reason: str, now: datetime) -> None:
    # The account row first, then the settings row, as configure and run_auto_topup take them
    # (a pause writes the account): one statement locking both took the settings row first and
    # deadlocked with a run_auto_topup or a save waiting for it while holding the account.
    Account.objects.select_for_update().values_list("pk", flat=True).get(pk=auto.account_id)
    auto = AutoTopUp.objects.select_for_update(of=("self",)).select_related("account").get(pk=auto.pk)
    topup = TopUp.objects.get(pk=topup_id)
    if topup.status == TopUp.Status.CREDITED:
        auto.failures_in_a_row, auto.last_problem = 0, ""
        auto.save(update_fields=["failures_in_a_row", "last_problem"])
    elif topup.status != TopUp.Status.PENDING:
        names = {"reference": topup.reference, "amount": format_money(topup.amount)}
        _problem(
            auto,
            # The reason is ours (marked with gettext_noop) or the gateway's own words, kept as they are.
            lambda: (
                gettext("Auto top-up %(reference)s of %(amount)s failed: %(reason)s")
                % {**names, "reason": gettext(reason)}
            ),
            now,
        )


@transaction.atomic
def pause_after_dispute(*, account_id: int, reference: str, now: datetime) -> None:
    """A card payment of the account is disputed (a chargeback, perhaps of a stolen card): auto top-up stops
    charging the saved card until the customer turns it on again. The chargeback's debit is a crossing, and
    the card had been charged again at once (found by a helper)."""
    Account.objects.select_for_update().values_list("pk", flat=True).get(pk=account_id)  # account, then settings
    auto = AutoTopUp.objects.select_for_update(of=("self",)).filter(account_id=account_id).first()
    if auto is None or not auto.is_active:
        return
    _pause(auto, now)
    words = gettext_noop("Auto top-up is paused: your card payment %(reference)s was disputed with your bank.")
    _problem(auto, lambda: gettext(words) % {"reference": reference}, now, count=False)


def _pause(auto: AutoTopUp, now: datetime) -> None:
    """Paused until the customer turns it on again: the account's refill trigger off (the caller saves `auto`)."""
    auto.paused_at = now
    Account.objects.filter(pk=auto.account_id).update(refill_below=None, refill_armed=True)


def _problem(auto: AutoTopUp, words, now: datetime, *, count: bool = True) -> None:
    """Record and tell the customer (e-mail and text); three failures in a row pause it.
    `words()` says what happened in the active language: each message is built in its
    recipient's, the note kept on the settings in the site's."""
    if count:
        auto.failures_in_a_row += 1
    paused = auto.failures_in_a_row >= AutoTopUp.MAX_FAILURES_IN_A_ROW and auto.paused_at is None
    if paused:
        _pause(auto, now)

    def text() -> str:
        if not paused:
            return words()
        pause = gettext(
            "Auto top-up is paused after %(count)s failures in a row; turn it on again once the card works."
        ) % {"count": AutoTopUp.MAX_FAILURES_IN_A_ROW}
        return f"{words()} {pause}"

    with recipient_language(None):
        auto.last_problem, auto.last_problem_at = text()[:300], now
    auto.save(update_fields=["failures_in_a_row", "paused_at", "last_problem", "last_problem_at"])
    key = f"auto-topup:{auto.account_id}:{auto.crossings}:{auto.failures_in_a_row}"
    url = settings.SITE_URL + reverse("topups:auto")
    if auto.owner.email:
        account = Account.objects.get(pk=auto.account_id)
        with recipient_language(auto.owner):
            subject = gettext("%(account)s: auto top-up did not go through") % {"account": account.name}
            body = gettext(
                "Hello %(name)s,\n\n%(text)s\n\nAccount: %(account)s\nBalance now: %(balance)s\n\n"
                "Your auto top-up settings and card: %(url)s\n\nBilling Center"
            ) % {
                "name": auto.owner.get_full_name() or auto.owner.username,
                "text": text(),
                "account": account.name,
                "balance": format_money(account.balance),
                "url": url,
            }
        queue_email(dedupe_key=key, to=auto.owner.email, subject=subject, body=body, account=account)
    for recipient in auto.account.alert_recipients.filter(kind=AlertRecipient.Kind.SMS, confirmed_at__isnull=False):
        with recipient_language(recipient):
            sms = gettext("Billing Center: %(text)s") % {"text": text()}
        queue_sms(dedupe_key=f"{key}:{recipient.pk}", to=recipient.address, text=sms[:300], account=auto.account)
