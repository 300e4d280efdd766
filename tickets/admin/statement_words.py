"""What finance's statement pages say in words: a list's totals, what an import did, what an action did to a line."""

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext as _
from djmoney.money import Money

from money.formatting import format_money

from ..models import StatementLine
from ..selectors import listed_before
from ..statements.crediting import LineOutcome
from ..statements.importing import ImportResult
from ..statements.take_back import TakenBack


def statement_totals(lines) -> list[dict]:
    """The listed lines' credits, debits, what was credited and how many wait unmatched, one row per currency
    (a USD and a CNY account's statements are never added together), as money in the reader's format."""
    rows = (
        lines.order_by()
        .values("currency")
        .annotate(
            credits=Sum("amount", filter=Q(amount__gt=0), default=0),
            debits=Sum("amount", filter=Q(amount__lt=0), default=0),
            # A transfer the bank listed again is linked to its first line's credit: counted once.
            credited=Sum("amount", filter=Q(state=StatementLine.State.CREDITED) & ~Q(listed_before()), default=0),
            unmatched=Count("pk", filter=Q(state=StatementLine.State.UNMATCHED)),
        )
        .order_by("currency")
    )
    money = ("credits", "debits", "credited")
    return [
        {**{key: format_money(Money(row[key], row["currency"])) for key in money}, "unmatched": row["unmatched"]}
        for row in rows
    ]


def import_outcomes(result: ImportResult) -> str:
    """What an import did with its lines: credited and unmatched always, the others when there are any
    (a line credited before, through a ticket or an earlier statement, is linked, not credited again)."""
    outcomes = [_("%(count)s credited") % {"count": result.credited}]
    if result.linked:
        outcomes.append(_("%(count)s already credited before, linked") % {"count": result.linked})
    if result.to_confirm:
        outcomes.append(_("%(count)s to confirm") % {"count": result.to_confirm})
    outcomes.append(_("%(count)s unmatched") % {"count": result.unmatched})
    if result.identical_before:  # a second payment alike in every detail would have vanished without a word
        outcomes.append(
            _(
                "%(count)s without a bank reference identical to lines imported before, not added again (if this "
                "statement does not overlap an earlier one, a payer may have paid twice)"
            )
            % {"count": result.identical_before}
        )
    return _(", ").join(outcomes)


def missing_statement_words(result: ImportResult) -> str | None:
    """A statement that opens at another balance than the one imported before it closed at (continuing.missing_before):
    the clerk is warned that one in between may be missing, with its transfers; None when it follows on."""
    if result.previous_closing is None:
        return None
    currency = result.statement.currency
    return _(
        "This statement opens at %(opening)s, but the one imported before it for this account closed at %(closing)s: "
        "a statement in between may be missing, and its transfers are credited only once it is imported."
    ) % {
        "opening": format_money(Money(result.statement.opening_balance, currency)),
        "closing": format_money(Money(result.previous_closing, currency)),
    }


def credit_words(outcome: LineOutcome) -> str:
    if outcome.already:
        return _("was already credited — nothing changed")
    if outcome.linked_to:
        return _("already credited through %(ticket)s: linked, nothing credited again") % {
            "ticket": outcome.linked_to.number
        }
    if outcome.linked:
        return _("already credited through another line of our statements: linked, nothing credited again")
    if not outcome.credited:
        return _("proposed; a second finance user must confirm it")
    return _("credited %(amount)s") % {"amount": format_money(outcome.line.money)}


def assigned_words(line: StatementLine) -> str:
    return _("assigned to %(account)s; confirm it to credit") % {"account": line.account.name}


def set_aside_words(line: StatementLine) -> str:
    return _("set aside: %(reason)s") % {"reason": line.get_set_aside_reason_display().lower()}


def put_back_words(line: StatementLine) -> str:
    return _("put back: %(state)s") % {"state": line.get_state_display().lower()}


def taken_back_words(result: TakenBack) -> str:
    if result.already:
        return _("its credit was already taken back — nothing changed")
    return _("took %(amount)s back from %(account)s") % {
        "amount": format_money(-result.entry.amount),
        "account": result.entry.account.name,
    }
