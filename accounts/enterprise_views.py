"""The Enterprise page of a master account, and a member's own alert setting.

Thin: each POST reads one form and calls one service of accounts.enterprise or accounts.budgets.
Success answers 303 back to the page with a message; a refusal shows the page again with the
form's error and the status of its kind (billing_center.errors). A member id that is not one of
this master's members is a 404, whatever it names.
"""

import secrets
from dataclasses import dataclass
from functools import partial

from django.contrib import messages
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe
from djmoney.money import Money

from billing_center.errors import show_on_form
from billing_center.responses import see_other
from money.errors import BillingError, Invalid, NotFound
from money.formatting import format_money, plain_amount
from money.parsing import parse_id

from .budgets import is_over_budget, spent
from .decorators import customer_required
from .enterprise import allocate, members_with_spending, recent_moves, reclaim, set_alert_copy, set_member_settings
from .forms import FundMoveForm, MemberSettingsForm
from .models import Account


@dataclass
class MemberRow:
    """One member on the page, with its three forms (bound, when it is the one just refused)."""

    member: Account
    spent: Money
    budget: Money | None
    over_budget: bool
    allocate_form: FundMoveForm
    reclaim_form: FundMoveForm
    settings_form: MemberSettingsForm
    # Fresh for every rendering, also after a refusal: a key must not be handed to "try again".
    allocate_key: str = ""
    reclaim_key: str = ""


@customer_required
@require_safe  # pages that only show: GET and HEAD
def enterprise(request, account):
    _require_master(account)
    return _render(request, account)


@customer_required
@require_POST
def allocate_funds(request, account):
    return _submit(request, account, "allocate", FundMoveForm, partial(_moved, allocate, request, account))


@customer_required
@require_POST
def reclaim_funds(request, account):
    return _submit(request, account, "reclaim", FundMoveForm, partial(_moved, reclaim, request, account))


@customer_required
@require_POST
def member_settings(request, account):
    def save(member_id: int, data: dict) -> str:
        member = set_member_settings(
            master_id=account.pk,
            member_id=member_id,
            budget=data["budget"],
            alert_copy=data["alert_copy"],
            actor=request.user,
        )
        budget = member.monthly_budget
        if budget is None:
            return _("Saved for %(member)s: no monthly budget.") % {"member": member.name}
        shown = format_money(Money(budget, account.billing_currency))
        return _("Saved for %(member)s: %(budget)s a month.") % {"member": member.name, "budget": shown}

    return _submit(request, account, "settings", MemberSettingsForm, save, field="budget")


@customer_required
@require_POST
def member_alert_copy(request, account):
    """A member's own choice: also send its expenditure alerts to its master's recipients."""
    if account.type != Account.Type.ENTERPRISE_MEMBER:
        raise Http404("Only a member account sends its alerts to its master.")
    enabled = request.POST.get("alert_copy") == "on"
    set_alert_copy(member_id=account.pk, enabled=enabled, actor=request.user)
    master = account.enterprise_master.name
    messages.success(
        request,
        (
            _("Your alerts now also go to %(master)s's recipients.")
            if enabled
            else _("Your alerts no longer go to %(master)s.")
        )
        % {"master": master},
        extra_tags="alert-card",
    )
    return see_other(reverse("accounts:overview") + "#alert")


def _submit(request, account, kind: str, form_class, act, *, field: str = "amount"):
    """One member's form: bound and checked, then `act(member_id, cleaned_data)` returns the
    success message (303 back to the member). A refusal shows the page again with the error at
    `field` (an Invalid) or above the form, answered with its kind's status."""
    _require_master(account)
    member_id = _member_id(request, account)
    form = form_class(request.POST, currency=account.billing_currency)
    status = 400
    if form.is_valid():
        try:
            message = act(member_id, form.cleaned_data)
        except NotFound:
            raise  # the 404 page: nothing on this page names that account
        except Invalid as exc:
            status = show_on_form(form, exc, field=field)
        except BillingError as exc:
            status = show_on_form(form, exc)
        else:
            messages.success(request, message)
            return see_other(reverse("accounts:enterprise") + f"#member-{member_id}")
    return _render(request, account, bound={(member_id, kind): form}, status=status)


def _moved(service, request, account, member_id: int, data: dict) -> str:
    """Allocate or reclaim as the form asks; the message says what was done (or done before)."""
    result = service(
        master_id=account.pk,
        member_id=member_id,
        amount=Money(data["amount"], account.billing_currency),
        actor=request.user,
        request_key=data["request_key"],
    )
    move = result.move
    names = {"amount": format_money(move.amount), "member": move.member.name}
    if move.direction == move.Direction.ALLOCATION:
        if result.created:
            return _("Allocated %(amount)s to %(member)s.") % names
        return _("Already done: allocated %(amount)s to %(member)s. This form was sent before.") % names
    if result.created:
        return _("Reclaimed %(amount)s from %(member)s.") % names
    return _("Already done: reclaimed %(amount)s from %(member)s. This form was sent before.") % names


def _render(request, account, *, bound: dict | None = None, status: int = 200):
    bound = bound or {}
    rows = []
    for member in members_with_spending(account):
        currency = account.billing_currency
        budget = None if member.monthly_budget is None else Money(member.monthly_budget, currency)
        initial = {
            "member": member.pk,
            "budget": plain_amount(budget) if budget is not None else "",
            "alert_copy": member.alert_copy_to_master,
        }
        rows.append(
            MemberRow(
                member=member,
                spent=Money(spent(member), currency),
                budget=budget,
                over_budget=is_over_budget(member),
                allocate_form=bound.get((member.pk, "allocate"))
                or FundMoveForm(currency=account.billing_currency, initial={"member": member.pk}),
                reclaim_form=bound.get((member.pk, "reclaim"))
                or FundMoveForm(currency=account.billing_currency, initial={"member": member.pk}),
                settings_form=bound.get((member.pk, "settings"))
                or MemberSettingsForm(currency=account.billing_currency, initial=initial),
                allocate_key=secrets.token_urlsafe(24),
                reclaim_key=secrets.token_urlsafe(24),
            )
        )
    context = {
        "account": account,
        "rows": rows,
        "moves": recent_moves(account),
        "refused_member": next(iter(bound), (None,))[0],  # the page opens at the refused form
    }
    return render(request, "accounts/enterprise.html", context, status=status)


def _require_master(account) -> None:
    """The page is for accounts that fund members; for any other it does not exist."""
    if not account.has_members:
        raise Http404("This account has no member accounts.")


def _member_id(request, account) -> int:
    """The member a form names: one of this master's members, or a 404 (another enterprise's
    member, nobody's id, or no id at all: the page never sends those)."""
    try:
        member_id = parse_id(request.POST.get("member", ""), what="member")
    except Invalid:
        raise NotFound(_("That is not a member account of this enterprise."), code="unknown_member") from None
    if not account.members.filter(pk=member_id).exists():
        raise NotFound(_("That is not a member account of this enterprise."), code="unknown_member")
    return member_id
