"""What finance's actions on transfer tickets, statements and receiving accounts leave in admin's audit trail
(billing_center.admin_log): a message and its arguments each, read in the reader's language; None where the action
changed nothing (a double click, a second clerk there first)."""

from django.utils.translation import gettext_noop

from accounts.descriptions import Description, describe, known_messages

from .. import notes
from ..review import ConfirmOutcome
from ..statements.crediting import LineOutcome
from ..statements.importing import ImportResult
from ..statements.setting_aside import REASONS
from ..statements.take_back import TakenBack

# A transfer ticket.
CONFIRMED = gettext_noop("Confirmed and credited %(amount)s")
PROPOSED = gettext_noop("Confirmed; the credit of %(amount)s is proposed for a second approval")
APPROVED = gettext_noop("Approved the proposed credit: %(amount)s credited")
WITHDRAWN = gettext_noop("Withdrew the proposed credit of %(amount)s")
WITHDRAWN_WHY = gettext_noop("Withdrew the proposed credit of %(amount)s: %(why)s")
INFO_REQUESTED = gettext_noop("Asked the customer for more information: %(asked)s")
REJECTED = gettext_noop("Rejected: %(reason)s")
UNDER_REVIEW = gettext_noop("Marked as under review")
# A statement line, and a statement imported.
LINE_CREDITED = gettext_noop("Confirmed and credited %(amount)s to %(account)s")
LINE_PROPOSED = gettext_noop("Confirmed; the credit of %(amount)s to %(account)s is proposed for a second approval")
LINE_LINKED = gettext_noop("Confirmed: already credited through %(ticket)s; linked, nothing credited again")
LINE_LINKED_LINE = gettext_noop(
    "Confirmed: already credited through another line of our statements; linked, nothing credited again"
)
ASSIGNED = gettext_noop("Assigned to account %(account)s")
SET_ASIDE = gettext_noop("Set aside, %(reason)s: %(note)s")
PUT_BACK = gettext_noop("Put back to be credited")
TAKEN_BACK = gettext_noop("Taken back %(amount)s from %(account)s")
IMPORTED = gettext_noop(
    "Lines imported: %(lines)s (new: %(new)s); credited: %(credited)s, to confirm: %(to_confirm)s, unmatched: "
    "%(unmatched)s"
)
# A receiving account.
RETIRED = gettext_noop("Retired: no longer shown to customers")
WINDOW_UNTIL = gettext_noop("Transfer Tickets naming it accepted until %(date)s")
WINDOW_CLOSED = gettext_noop("Transfer Tickets naming it no longer accepted")

known_messages(
    CONFIRMED, PROPOSED, APPROVED, WITHDRAWN, WITHDRAWN_WHY, INFO_REQUESTED, REJECTED, UNDER_REVIEW, LINE_CREDITED,
    LINE_PROPOSED, LINE_LINKED, LINE_LINKED_LINE, ASSIGNED, SET_ASIDE, PUT_BACK, TAKEN_BACK, IMPORTED, RETIRED,
    WINDOW_UNTIL, WINDOW_CLOSED,
)  # fmt: skip


def confirmed(outcome: ConfirmOutcome, *, approving: bool = False) -> Description | None:
    """A ticket confirmed (credited, or proposed above the threshold), or its proposal approved."""
    if outcome.already:
        return None
    amount = outcome.ticket.credit_amount
    if not outcome.credited:
        return describe(PROPOSED, amount=amount)
    return describe(APPROVED if approving else CONFIRMED, amount=amount)


def withdrawn(before, why: str) -> Description:
    """A proposal withdrawn: its amount as it was proposed, and the checker's word when given."""
    if why:
        return describe(WITHDRAWN_WHY, amount=before.credit_amount, why=why)
    return describe(WITHDRAWN, amount=before.credit_amount)


def asked(message: str) -> Description:
    return describe(INFO_REQUESTED, asked=message)


def rejected(reason: str) -> Description:
    return describe(REJECTED, reason=reason)


def under_review() -> Description:
    return describe(UNDER_REVIEW)


def line_confirmed(outcome: LineOutcome) -> Description | None:
    if outcome.already:
        return None
    if outcome.linked_to is not None:
        return describe(LINE_LINKED, ticket=outcome.linked_to.number)
    if outcome.linked:
        return describe(LINE_LINKED_LINE)
    line = outcome.line
    account = notes.account_label(line.account_id, line.account.name)
    return describe(LINE_CREDITED if outcome.credited else LINE_PROPOSED, amount=line.money, account=account)


def assigned(line) -> Description:
    return describe(ASSIGNED, account=notes.account_label(line.account_id, line.account.name))


def set_aside(line) -> Description:
    return describe(SET_ASIDE, reason=describe(REASONS[line.set_aside_reason]), note=line.set_aside_note)


def put_back(line) -> Description:
    return describe(PUT_BACK)


def taken_back(result: TakenBack) -> Description | None:
    if result.already:
        return None
    account = notes.account_label(result.entry.account_id, result.entry.account.name)
    return describe(TAKEN_BACK, amount=-result.entry.amount, account=account)


def imported(result: ImportResult) -> Description:
    counts = {"lines": result.lines, "new": result.new_lines, "credited": result.credited}
    return describe(IMPORTED, **counts, to_confirm=result.to_confirm, unmatched=result.unmatched)
