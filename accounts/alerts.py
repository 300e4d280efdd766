"""The expenditure (low-balance) alert: the source page's first rule.

The customer sets a threshold on the Overview page; when the balance falls below it, a text
message (and e-mail, per recipient) is sent — once per crossing, at most once a day. The
ledger writer notices a crossing and calls check_alert_after_commit; the periodic sweep
catches any check a lost task or an outage left behind.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Sum
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from money.errors import Invalid, Refused
from money.formatting import format_money

from .models import Account, AlertRecipient, BalanceAlert, LedgerEntry
from .notifications import publish_after_commit, queue_email, queue_sms, recipient_language
from .outbound_webhooks.events import emit, money

logger = logging.getLogger(__name__)

ALERT_INTERVAL = timedelta(hours=24)
RUNWAY_DAYS = 7


def set_alert(*, account_id: int, enabled: bool, threshold: Decimal | None, actor) -> Account:
    """Save the Overview page's alert settings. A new threshold re-arms the alert, and if the
    balance is already below it, the check runs at once (after commit)."""
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        if not account.spends_own_balance:
            raise Refused(
                _(
                    "Expenditure alerts are for accounts whose balance pays for resources (prepaid accounts "
                    "and enterprise members)."
                ),
                code="alert_not_allowed",
            )
        if enabled and threshold is None:
            raise Invalid(_("Set a threshold to turn the alert on."), code="threshold_required")
        if threshold is not None and threshold < 0:
            raise Invalid(_("The threshold cannot be negative."), code="threshold_negative")
        changed = threshold != account.alert_threshold or (enabled and not account.alert_enabled)
        account.alert_enabled, account.alert_threshold = enabled, threshold
        if changed:
            account.alert_armed = True
        account._history_user = actor
        account.save(update_fields=["alert_enabled", "alert_threshold", "alert_armed"])
        if enabled:
            check_alert_after_commit(account_id)
    return account


def check_balance_alert(*, account_id: int, now: datetime | None = None):
    """Fire the low-balance alert if the balance is below the threshold and the alert is armed.

    Once per crossing: the account row is locked, the alert is unique per (account,
    crossing), and firing disarms it until the balance is back at or above the threshold.
    At most one alert per ALERT_INTERVAL however the balance wobbles; the periodic sweep
    fires a deferred one later. Safe to run any number of times.
    """
    now = now or timezone.now()
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        threshold = account.alert_threshold_money
        if not (account.alert_enabled and account.alert_armed and threshold is not None and account.can_alert):
            return None
        if account.balance >= threshold:
            return None
        if account.last_alert_at and now - account.last_alert_at < ALERT_INTERVAL:
            return None
        crossing = account.alert_crossings + 1
        texts: dict[str, str] = {}  # one text per language, each built in that language

        def text_for(recipient) -> str:
            with recipient_language(recipient):
                language = translation.get_language()
                if language not in texts:
                    texts[language] = alert_text(account, now=now)
                return texts[language]

        alert, created = BalanceAlert.objects.get_or_create(  # the history keeps it in the account's own language
            account=account,
            crossing=crossing,
            defaults={"balance": account.balance, "threshold": threshold, "text": text_for(account), "created_at": now},
        )
        if created:
            low = {"balance": money(account.balance), "threshold": money(threshold), "alert_id": alert.pk}
            emit("balance.low", account_id=account.pk, data=low, now=now)
        for recipient in alert_recipients_of(account):  # each in the language its own account reads
            key = f"alert:{account.pk}:{crossing}:{recipient.pk}"
            if recipient.kind == recipient.Kind.SMS:
                queue_sms(dedupe_key=key, to=recipient.address, text=text_for(recipient), account=account, alert=alert)
            else:
                with recipient_language(recipient):
                    subject = alert_subject(account, threshold)
                queue_email(
                    dedupe_key=key,
                    to=recipient.address,
                    subject=subject,
                    body=text_for(recipient),
                    account=account,
                    alert=alert,
                )
        Account.objects.filter(pk=account.pk).update(alert_armed=False, alert_crossings=crossing, last_alert_at=now)
        return alert


def alert_recipients_of(account: Account) -> list[AlertRecipient]:
    """The account's confirmed recipients and, for a member that asked for it, its master's: each number or
    address once, the account's own first (one on both had been texted twice for one crossing; found by a helper)."""
    owners = Q(account=account)
    if account.alert_copy_to_master and account.enterprise_master_id:
        owners |= Q(account_id=account.enterprise_master_id)
    found = AlertRecipient.objects.filter(owners, confirmed_at__isnull=False)
    unique = {}
    for recipient in sorted(found, key=lambda r: (r.account_id != account.pk, r.pk)):
        unique.setdefault((recipient.kind, recipient.address.casefold()), recipient)
    return list(unique.values())


def alert_subject(account: Account, threshold) -> str:
    name = account.name[:120]
    if account.is_postpaid:
        return _("%(name)s: you owe more than %(threshold)s") % {"name": name, "threshold": format_money(-threshold)}
    return _("%(name)s: balance below %(threshold)s") % {"name": name, "threshold": format_money(threshold)}


def alert_text(account: Account, *, now: datetime) -> str:
    """Balance, threshold, a runway estimate from the last 7 days' usage, and where to pay."""
    if account.is_postpaid:  # the threshold is a share of the credit limit (accounts.credit_limits)
        return _(
            "Billing Center: %(name)s owes %(owed)s, more than %(share)s%% of its credit limit of %(limit)s. "
            "Repay: %(url)s"
        ) % {
            "name": account.name,
            "owed": format_money(-account.balance),
            "share": account.alert_limit_share,
            "limit": format_money(account.credit_limit_money),
            "url": f"{settings.SITE_URL}{reverse('topups:repay')}",
        }
    text = _("Billing Center: %(name)s balance is %(balance)s, below your alert threshold of %(threshold)s.") % {
        "name": account.name,
        "balance": format_money(account.balance),
        "threshold": format_money(account.alert_threshold_money),
    }
    spent = (
        account.ledger_entries.filter(kind=LedgerEntry.Kind.USAGE, created_at__gte=now - timedelta(days=RUNWAY_DAYS))
        .aggregate(total=Sum("amount"))
        .get("total")
    )
    daily = -(spent or Decimal(0)) / RUNWAY_DAYS
    if account.balance.amount <= 0:
        text += _(" Your balance is used up; resources may be suspended.")
    elif daily > 0:
        days = int(account.balance.amount / daily)
        text += (
            ngettext(
                " At your last %(window)s days' usage, about %(days)s day left.",
                " At your last %(window)s days' usage, about %(days)s days left.",
                days,
            )
            % {"window": RUNWAY_DAYS, "days": days}
            if days >= 1
            else _(" At your recent usage, it runs out within a day.")
        )
    if account.type == Account.Type.ENTERPRISE_MEMBER:
        return text + _(" Funds come from %(master)s: ask its administrators to allocate more.") % {
            "master": account.enterprise_master.name
        }
    return text + _(" Top up: %(url)s") % {"url": f"{settings.SITE_URL}{reverse('topups:pay')}"}


def accounts_due_an_alert(*, now: datetime | None = None):
    """Ids of accounts whose alert should fire now: on, armed, below, and not alerted in 24 h."""
    now = now or timezone.now()
    return (
        Account.objects.filter(alert_enabled=True, alert_armed=True, alert_threshold__isnull=False)
        .filter(balance__lt=F("alert_threshold"))
        .filter(Q(last_alert_at__isnull=True) | Q(last_alert_at__lte=now - ALERT_INTERVAL))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def sweep_balance_alerts(*, now: datetime | None = None) -> int:
    """The safety net: check every account that should have fired (a lost task, a deferred alert)."""
    fired = 0
    for account_id in list(accounts_due_an_alert(now=now)[:100_000]):
        try:
            fired += check_balance_alert(account_id=account_id, now=now) is not None
        except Exception:  # one account's failure must not starve every account after it
            logger.exception("Balance alert check failed for account %s", account_id)
    return fired


def check_alert_after_commit(account_id: int) -> None:
    """Have a worker check the account's alert once this transaction commits."""
    from .tasks import check_balance_alert as task  # tasks import this module

    publish_after_commit(task, account_id)
