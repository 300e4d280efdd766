"""Opening an account and changing what kind of account it is.

The type decides how an account pays (prepaid top-ups, postpaid bills, funds from an
enterprise master), so it changes only through change_account_type, and only while no
money is in flight: a non-zero balance or an open top-up or transfer would otherwise be
settled under rules that no longer apply. Admin shows the type read-only.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from djmoney.money import Money

from billing_center.review_flags import flag, record_as_found
from money.errors import Invalid

from . import deposits
from .exceptions import AccountChangeRefused
from .models import Account
from .promised import promised_out


def _check_master(kind: str, master: Account | None, currency: str, *, account_id: int | None = None) -> None:
    """A member has exactly one master: another account, not itself a member, billed in the
    same currency (the master's funds move to the member as one two-entry posting)."""
    if kind != Account.Type.ENTERPRISE_MEMBER:
        if master is not None:
            raise Invalid(_("Only an enterprise member account has an enterprise master."), code="master_not_allowed")
        return
    if master is None:
        raise Invalid(_("An enterprise member account needs its enterprise master account."), code="master_required")
    if master.pk == account_id or master.type == Account.Type.ENTERPRISE_MEMBER:
        raise Invalid(_("The enterprise master must be another account that is not a member."), code="bad_master")
    if master.type != Account.Type.PREPAID:  # a postpaid master's repayment credit would pay its bills and members
        raise Invalid(_("The enterprise master must be a prepaid account: it funds its members."), code="bad_master")
    if master.billing_currency != currency:
        raise Invalid(
            _("The enterprise master is billed in %(billed)s, not %(currency)s.")
            % {"billed": master.billing_currency, "currency": currency},
            code="bad_master",
        )


def check_new_account(*, name: str, kind: str, billing_currency: str, master: Account | None) -> None:
    """What open_account refuses, for a form to show before it saves."""
    if not name.strip():
        raise Invalid(_("Give the account a name."), code="name_required")
    if kind not in Account.Type.values:
        raise Invalid(_("%(kind)s is not an account type.") % {"kind": kind}, code="bad_type")
    if billing_currency not in settings.BILLING_CURRENCIES:
        raise Invalid(
            _("%(currency)s is not a billing currency.") % {"currency": billing_currency}, code="bad_currency"
        )
    _check_master(kind, master, billing_currency)


def open_account(*, name: str, kind: str, billing_currency: str, enterprise_master_id: int | None = None, actor=None):
    """A new account with a zero balance in its one billing currency, which never changes."""
    with transaction.atomic():
        master = Account.objects.filter(pk=enterprise_master_id).first() if enterprise_master_id else None
        if enterprise_master_id and master is None:
            raise Invalid(_("There is no such enterprise master account."), code="bad_master")
        check_new_account(name=name, kind=kind, billing_currency=billing_currency, master=master)
        account = Account(name=name.strip(), type=kind, enterprise_master=master, balance=Money(0, billing_currency))
        account.postpaid_since = timezone.now() if kind == Account.Type.POSTPAID else None
        account._history_user = actor
        account.save()
        return account


# What other apps check before an account's type changes (bills: a postpaid account leaves postpaid with its bills
# settled and its usage billed); each is called under the row lock and raises AccountChangeRefused to refuse.
TYPE_CHANGE_CHECKS: list = []


def register_type_change_check(check) -> None:
    """`check(account, kind)`, called before `account` (locked) becomes `kind`."""
    TYPE_CHANGE_CHECKS.append(check)


def change_account_type(*, account_id: int, kind: str, enterprise_master_id: int | None = None, actor=None):
    """Make an account prepaid, postpaid or an enterprise member (of `enterprise_master_id`).

    Refused while its balance is not zero, a refund it promised is not paid out yet or a dispute is held open
    (accounts.promised: once debited, a member's hole had been filled by its master's next allocation, a postpaid
    one's owed by no bill; found by a helper) or any money-in path (every registered deposit source) has something
    open for it. The row is locked, so a top-up cannot start between the check and the change: starting one locks
    the same row.
    """
    if kind not in Account.Type.values:
        raise Invalid(_("%(kind)s is not an account type.") % {"kind": kind}, code="bad_type")
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        master = Account.objects.filter(pk=enterprise_master_id).first() if enterprise_master_id else None
        if enterprise_master_id and master is None:
            raise Invalid(_("There is no such enterprise master account."), code="bad_master")
        _check_master(kind, master, account.billing_currency, account_id=account.pk)
        if (account.type, account.enterprise_master_id) == (kind, master.pk if master else None):
            return account
        if account.balance.amount != 0:
            raise AccountChangeRefused(
                _("%(account)s has a balance of %(balance)s; its type can change only at zero.")
                % {"account": account.name, "balance": account.balance},
            )
        owed = promised_out(account.pk, account.billing_currency)
        if owed.amount:  # debited once the gateway says so: a balance of zero now would not stay zero
            raise AccountChangeRefused(
                _(
                    "%(account)s has %(amount)s promised to refunds not paid out yet or held for open disputes; its "
                    "type can change once they are settled."
                )
                % {"account": account.name, "amount": owed}
            )
        open_items = sum(source.in_flight(account) for source in deposits.sources())
        if open_items:
            raise AccountChangeRefused(
                ngettext(
                    "%(account)s has %(count)s payment in progress (open top-ups or transfer tickets); "
                    "its type can change once they are settled.",
                    "%(account)s has %(count)s payments in progress (open top-ups or transfer tickets); "
                    "its type can change once they are settled.",
                    open_items,
                )
                % {"account": account.name, "count": open_items}
            )
        for check in TYPE_CHANGE_CHECKS:
            check(account, kind)
        if kind != Account.Type.PREPAID and account.members.exists():  # a master funds its members: prepaid only
            raise AccountChangeRefused(
                _("%(account)s is the enterprise master of other accounts.") % {"account": account.name}
            )
        if kind == Account.Type.POSTPAID:  # what it used before was paid from its balance: never billed
            account.postpaid_since = timezone.now()
        account.type, account.enterprise_master = kind, master
        account._history_user = actor
        account.save(update_fields=["type", "enterprise_master", "postpaid_since"])
        return account


def flag_for_review(*, account_id: int, note: str, now=None) -> None:
    """Ask finance to look at an account (a disputed payment, say): the flag and a dated line (a
    description from accounts.review_notes). The row is locked, as by every writer of its money, and
    History records the flag by no person (billing_center.review_flags.record_as_found): without it, the next
    save by anyone (the customer's preferences, a clerk's credit limit) had shown the flag as their change."""
    fields = ["needs_review", "review_note", "review_note_parts"]
    now = now or timezone.now()
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        flag(account, note, now=now)
        Account.objects.filter(pk=account_id).update(**{name: getattr(account, name) for name in fields})
        record_as_found(account, now)
