"""The credit limit of a postpaid account: how much it may owe, billed and unbilled, before
finance looks at it; and the customer's alert at a share of it.

Usage is never refused for the limit (the cloud has already delivered it), so a charge that
takes what is owed past the limit is recorded and the account is flagged for finance, once
per crossing (flag_charges_over_limit, called by the usage-charge service under the row lock).

The customer's alert is the expenditure alert (accounts.alerts): a postpaid account owes
minus its balance, so "owes more than share × limit" is "balance below -(share × limit)",
the alert's threshold. Finance changing the limit moves the threshold with it.
"""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _
from djmoney.money import Money

from money.errors import Invalid, Refused

from .alerts import check_alert_after_commit
from .descriptions import describe
from .lifecycle import flag_for_review
from .models import LEDGER_PLACES, Account
from .review_notes import LIMIT_BELOW_OWED, OVER_CREDIT_LIMIT


def limit_threshold(limit: Decimal, share: int) -> Decimal:
    """The balance below which a postpaid account owes more than `share` % of `limit`."""
    return -(limit * share / 100).quantize(LEDGER_PLACES)


def set_credit_limit(*, account_id: int, limit: Decimal | None, actor) -> Account:
    """Finance sets (or removes, with None) a postpaid account's credit limit."""
    if limit is not None and limit < 0:
        raise Invalid(_("A credit limit cannot be negative."), code="credit_limit")
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        if not account.is_postpaid and limit is not None:
            raise Invalid(_("Only postpaid accounts have a credit limit."), code="credit_limit")
        account.credit_limit = limit
        fields = ["credit_limit"]
        if account.alert_limit_share is not None:
            account.alert_threshold = None if limit is None else limit_threshold(limit, account.alert_limit_share)
            account.alert_armed = True
            fields += ["alert_threshold", "alert_armed"]
            if account.alert_enabled and limit is not None:
                check_alert_after_commit(account.pk)
        account._history_user = actor
        account.save(update_fields=fields)
        if limit is not None and account.balance.amount < -limit:  # set below what is owed already: said now,
            # as a charge crossing it would say (later charges never cross it again; found by a helper)
            owed, limit_money = -account.balance, Money(limit, account.billing_currency)
            flag_for_review(account_id=account.pk, note=describe(LIMIT_BELOW_OWED, owed=owed, limit=limit_money))
    return account


def set_limit_alert(*, account_id: int, enabled: bool, share: int | None, actor) -> Account:
    """The customer's alert: when what is owed passes `share` % of the credit limit."""
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        if not account.is_postpaid or account.credit_limit is None:
            raise Refused(
                _("This alert needs a credit limit; finance sets it for postpaid accounts."), code="alert_not_allowed"
            )
        if enabled and share is None:
            raise Invalid(_("Enter the share of your credit limit to be alerted at."), code="threshold_required")
        if share is not None and not 1 <= share <= 100:
            raise Invalid(_("Enter a share between 1 and 100 %."), code="threshold")
        threshold = None if share is None else limit_threshold(account.credit_limit, share)
        changed = threshold != account.alert_threshold or (enabled and not account.alert_enabled)
        account.alert_enabled, account.alert_limit_share, account.alert_threshold = enabled, share, threshold
        if changed:
            account.alert_armed = True
        account._history_user = actor
        account.save(update_fields=["alert_enabled", "alert_limit_share", "alert_threshold", "alert_armed"])
        if enabled:
            check_alert_after_commit(account.pk)
    return account


def flag_charges_over_limit(before: dict[int, Money], locked: dict, *, now: datetime) -> None:
    """Flag for finance each account that the charges just posted took past its credit limit.

    `before` holds the balances before the charges, `locked` the locked rows after them.
    """
    for pk, account in locked.items():
        limit = account.credit_limit
        if limit is None or pk not in before:
            continue
        if before[pk].amount >= -limit > account.balance.amount:
            owed, limit_money = -account.balance, Money(limit, account.billing_currency)
            flag_for_review(account_id=pk, note=describe(OVER_CREDIT_LIMIT, owed=owed, limit=limit_money), now=now)
