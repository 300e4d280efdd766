"""Enterprise funds: a master account allocates money to its member accounts and reclaims what
they have not spent. Members spend it on usage (their charges debit their own balance).

Each move is one posting of two ledger entries that sum to zero (accounts.ledger.transfer_funds)
plus one FundMove that says which move it was, who asked and from which form.

- Exactly once per submitted form. The form carries a request key, unique per master. Both
  accounts' rows are locked first (id order, as the ledger writer locks them), so a second
  submission of the same form (a double click, a resubmit, a second tab) waits for the first
  and then finds its FundMove instead of posting again. Behind the locks, the unique (master,
  request key) and the ledger's unique source refuse a second posting where row locks are not
  real (SQLite).
- Never more than is there. Under the same locks the payer's balance is read and an amount
  above it refused (InsufficientFunds): two allocations racing for the master's last funds
  wait for each other, and the second sees what the first left. A reclaim races the member's
  usage charges the same way, since charges lock the member's row too.
- Only the master's own users move its funds, and only to and from its own members: another
  enterprise's member is NotFound (a 404), as if it did not exist.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, Exists, OuterRef, Subquery, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from djmoney.money import Money

from money.errors import Conflict, CurrencyMismatch, Invalid, NotFound, Refused
from money.formatting import format_money

from .balances import lock_accounts
from .budgets import spending_in_month, with_spending
from .descriptions import ALLOCATION, RECLAIM, describe
from .enterprise_models import FundMove
from .exceptions import InsufficientFunds
from .ledger import transfer_funds
from .models import LEDGER_PLACES, Account, User
from .monthly_usage import month_start
from .outbound_webhooks.events import emit, money
from .promised import promised_out

# What a form's key looks like (secrets.token_urlsafe); anything else is a forged or stale form.
REQUEST_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}", re.ASCII)
RECENT_MOVES = 10


@dataclass(frozen=True)
class MoveResult:
    """What allocate or reclaim did: the move, and whether this call made it (False: the same
    form had been submitted before, and nothing new was posted)."""

    move: FundMove
    created: bool


def allocate(
    *, master_id: int, member_id: int, amount: Money, actor, request_key: str, now: datetime | None = None
) -> MoveResult:
    """Move `amount` from the master's balance to one of its members."""
    return _move(FundMove.Direction.ALLOCATION, master_id, member_id, amount, actor, request_key, now)


def reclaim(
    *, master_id: int, member_id: int, amount: Money, actor, request_key: str, now: datetime | None = None
) -> MoveResult:
    """Move `amount` of a member's unspent funds back to its master."""
    return _move(FundMove.Direction.RECLAIM, master_id, member_id, amount, actor, request_key, now)


def check_request_key(request_key: str) -> str:
    key = request_key.strip() if isinstance(request_key, str) else ""
    if not REQUEST_KEY.fullmatch(key):
        raise Invalid(_("This form is out of date. Reload the page and try again."), code="bad_request_key")
    return key


def _move(direction, master_id, member_id, amount: Money, actor, request_key, now) -> MoveResult:
    key = check_request_key(request_key)
    if amount.amount <= 0:
        raise Invalid(_("The amount must be greater than zero."), code="zero_amount")
    if getattr(actor, "account_id", None) != master_id:
        raise Refused(_("Only the enterprise master's users move its funds."), code="not_the_master")
    try:
        with transaction.atomic():
            return _post_move(direction, master_id, member_id, amount, actor, key, now)
    except IntegrityError:
        # Only where row locks are not real: the same form won the race; answer with its move.
        earlier = FundMove.objects.filter(master_id=master_id, request_key=key).first()
        if earlier is None:
            raise
        return _same_form(earlier, direction, member_id, amount)


def _post_move(direction, master_id, member_id, amount: Money, actor, key: str, now) -> MoveResult:
    locked = lock_accounts([master_id, member_id])
    member = (
        Account.objects.filter(pk=member_id, type=Account.Type.ENTERPRISE_MEMBER, enterprise_master_id=master_id)
        .select_related("enterprise_master")
        .first()
    )
    if member is None or master_id not in locked:
        raise NotFound(_("That is not a member account of this enterprise."), code="unknown_member")
    earlier = FundMove.objects.filter(master_id=master_id, request_key=key).first()
    if earlier is not None:
        return _same_form(earlier, direction, member_id, amount)
    master = member.enterprise_master
    if master.type != Account.Type.PREPAID:  # its repayment credit would also have paid its bills (found by a helper)
        raise Refused(_("%(master)s is not prepaid: its funds cannot move to members.") % {"master": master.name})
    allocating = direction == FundMove.Direction.ALLOCATION
    payer, payee = (master, member) if allocating else (member, master)
    available = locked[payer.pk].balance
    if amount.currency != available.currency:
        raise CurrencyMismatch(
            _("%(account)s is billed in %(billed)s, not %(currency)s.")
            % {"account": payer.name, "billed": available.currency, "currency": amount.currency}
        )
    promised = promised_out(payer.pk, str(available.currency))  # refunds not debited yet, disputes held open
    if promised.amount > 0 and amount > available - promised:
        shown = format_money(max(available - promised, Money(0, available.currency)))
        names = {"account": payer.name, "shown": shown, "promised": format_money(promised)}
        raise InsufficientFunds(
            _(
                "%(account)s has %(shown)s available: %(promised)s of its balance is promised to refunds not "
                "completed yet or held for open disputes. You cannot move %(amount)s."
            )
            % {**names, "amount": format_money(amount)}
        )
    try:
        debit, credit = transfer_funds(  # it refuses to overdraw the payer, under the same locks
            from_account_id=payer.pk,
            to_account_id=payee.pk,
            amount=amount,
            source_ref=f"enterprise:{master.pk}:{key}",
            actor=actor,
            description=describe(ALLOCATION if allocating else RECLAIM, master=master.name, member=member.name),
            now=now,
        )
    except Refused as exc:
        if exc.code != "insufficient":
            raise
        shown = format_money(max(available, Money(0, available.currency)))
        names = {"master": master.name, "member": member.name, "shown": shown, "amount": format_money(amount)}
        raise InsufficientFunds(
            _("%(master)s has %(shown)s available: you cannot allocate %(amount)s.") % names
            if allocating
            else _("%(member)s has %(shown)s left: you cannot reclaim %(amount)s.") % names
        ) from exc
    move = FundMove.objects.create(
        master=master,
        member=member,
        direction=direction,
        amount=amount,
        request_key=key,
        actor=actor,
        debit_entry=debit,
        credit_entry=credit,
        created_at=debit.created_at,
    )
    moved = {"move_id": move.pk, "direction": direction, "member_id": member.pk, "amount": money(amount)}
    emit("allocation.created", account_id=master.pk, data=moved, now=move.created_at)
    emit("allocation.created", account_id=member.pk, data={**moved, "master_id": master.pk}, now=move.created_at)
    return MoveResult(move, created=True)


def _same_form(earlier: FundMove, direction, member_id: int, amount: Money) -> MoveResult:
    """A form submitted again is answered with its move; a key reused for another move is refused."""
    if (earlier.direction, earlier.member_id, earlier.amount) != (direction, member_id, amount):
        raise Conflict(
            _("This form was already used for another move. Reload the page and try again."), code="key_reused"
        )
    return MoveResult(earlier, created=False)


def set_member_settings(*, master_id: int, member_id: int, budget: Decimal | None, alert_copy: bool, actor) -> Account:
    """The master's settings for one member: its monthly budget (None: no budget; see
    accounts.budgets) and whether its expenditure alerts also go to the master's recipients.
    Audited in the account's history with the user who set them."""
    if budget is not None and budget < 0:
        raise Invalid(_("A budget cannot be negative."), code="budget_negative")
    if getattr(actor, "account_id", None) != master_id:
        raise Refused(_("Only the enterprise master's users change its members' settings."), code="not_the_master")
    with transaction.atomic():
        member = _lock_member(member_id)
        if member is None or member.enterprise_master_id != master_id:
            raise NotFound(_("That is not a member account of this enterprise."), code="unknown_member")
        if budget != member.monthly_budget:
            member.budget_exceeded_month = None  # the sweep judges the new budget afresh
        member.monthly_budget, member.alert_copy_to_master = budget, alert_copy
        member._history_user = actor
        member.save(update_fields=["monthly_budget", "budget_exceeded_month", "alert_copy_to_master"])
    return member


def set_alert_copy(*, member_id: int, enabled: bool, actor) -> Account:
    """Whether a member's expenditure alert also goes to its master's confirmed recipients; the
    member's users and the master's may both set it. Audited in the account's history."""
    with transaction.atomic():
        member = _lock_member(member_id)
        if member is None or getattr(actor, "account_id", None) not in (member.pk, member.enterprise_master_id):
            raise NotFound(_("That is not a member account you can change."), code="unknown_member")
        member.alert_copy_to_master = enabled
        member._history_user = actor
        member.save(update_fields=["alert_copy_to_master"])
    return member


def _lock_member(member_id: int) -> Account | None:
    return Account.objects.select_for_update().filter(pk=member_id, type=Account.Type.ENTERPRISE_MEMBER).first()


# --- Reads for the pages ---------------------------------------------------------------------


def members_with_spending(master: Account, *, now: datetime | None = None) -> list[Account]:
    """The master's members, by name, each with its balance and `spent` this month: one query."""
    return list(with_spending(master.members.order_by("name", "pk"), month=month_start(now)))


def recent_moves(master: Account, *, limit: int = RECENT_MOVES) -> list[FundMove]:
    return list(master.fund_moves_made.select_related("member", "actor").order_by("-created_at", "-id")[:limit])


def with_enterprise_state(accounts, *, now: datetime | None = None):
    """What the navigation and the Overview show of enterprise funds, inside the account's own
    query (accounts.selectors.get_account_for_user), so no page pays a query for it:
    has_members (a master: its Enterprise page), members_over_budget (marked by the budget
    sweep this month) and, for a member only, spent_this_month (the month's running total,
    accounts.monthly_usage; CASE reads it for members only)."""
    start = month_start(now)
    members = Account.objects.filter(enterprise_master=OuterRef("pk"))
    flagged = (
        members.filter(budget_exceeded_month=start.date())
        .order_by()
        .values("enterprise_master")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return accounts.annotate(
        has_members=Exists(members),
        members_over_budget=Coalesce(Subquery(flagged), 0),
        spent_this_month=Case(When(type=Account.Type.ENTERPRISE_MEMBER, then=spending_in_month(start)), default=None),
    )


@dataclass(frozen=True)
class MemberFunds:
    """What a member's Overview shows about its funds."""

    member: Account
    master: Account
    received: list[FundMove]  # the latest allocations and reclaims
    contacts: list[User]  # who allocated them: whom to ask for more
    spent: Money  # usage this month
    budget: Money | None  # the monthly budget its master set, if any


def member_funds(member: Account, *, now: datetime | None = None, limit: int = 5) -> MemberFunds:
    """One query (the moves) for an account loaded with_enterprise_state; one more otherwise."""
    received = list(member.fund_moves.select_related("actor").order_by("-created_at", "-id")[:limit])
    allocated = [move for move in received if move.direction == FundMove.Direction.ALLOCATION]  # not a reclaim's
    contacts = list({move.actor_id: move.actor for move in allocated if move.actor.is_active}.values())
    this_month = getattr(member, "spent_this_month", None)
    if this_month is None:
        this_month = with_spending(Account.objects.filter(pk=member.pk), month=month_start(now)).get().spent
    currency = member.billing_currency
    budget = None if member.monthly_budget is None else Money(member.monthly_budget, currency)
    spent_money = Money(Decimal(str(this_month)).quantize(LEDGER_PLACES), currency)
    return MemberFunds(member, member.enterprise_master, received, contacts, spent_money, budget)
