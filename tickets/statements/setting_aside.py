"""Setting a statement line aside: finance decides a credit on our statement is not to be credited
to any customer — the money was sent back to the payer (a transfer in another currency, one nobody
can place), or it is not a customer payment at all (the bank's interest, our own transfer). The
line leaves finance's to-do list with the reason, the clerk's words, who and when; putting it back
returns it to the list as it was. Nothing is credited or debited either way.

A ticket for the same transfer cannot be credited while its line is set aside as returned
(tickets.review refuses it): the customer would have the money twice. Lock order: the line, as
every path that credits a line takes it first.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.descriptions import describe
from billing_center.review_flags import stamp
from money.errors import Conflict, Invalid

from .. import notes
from ..models import StatementLine
from .crediting import require_credit_permission
from .rebookings import note_booked_again
from .transfer_lines import lock_transfers, refuse_if_credited

State, SetAside = StatementLine.State, StatementLine.SetAside
SETTABLE = (State.UNMATCHED, State.MATCHED, State.OTHER_CURRENCY)
REASONS = {SetAside.RETURNED: notes.RETURNED, SetAside.NOT_A_PAYMENT: notes.NOT_A_PAYMENT}
NOTE_LENGTH = StatementLine._meta.get_field("set_aside_note").max_length


def set_aside_line(*, line_id: int, actor, reason: str, note: str, now: datetime | None = None) -> StatementLine:
    """Take a line that is not credited off the to-do list, saying why."""
    now = now or timezone.now()
    require_credit_permission(actor)
    note = " ".join(note.split())
    if reason not in REASONS:
        raise Invalid(_("Say whether the money was returned to the payer or is not a customer payment."), code="reason")
    if not note:
        raise Invalid(_("Write why, for whoever reads this line later."), code="set_aside_note")
    if len(note) > NOTE_LENGTH:
        raise Invalid(_("Keep it under %(count)s characters.") % {"count": NOTE_LENGTH}, code="set_aside_note")
    with transaction.atomic():
        line = _lock(line_id)
        lock_transfers([line])
        if line.state == State.SET_ASIDE:
            raise Conflict(_("This line is already set aside."))
        if line.state not in SETTABLE:
            raise Conflict(
                _("This line's state is “%(state)s”: it cannot be set aside.") % {"state": line.get_state_display()}
            )
        refuse_if_credited(line)  # another listing of the transfer was credited: the customer has the money
        line.state, line.proposed_by = State.SET_ASIDE, None  # a proposal to credit it is withdrawn
        line.set_aside_reason, line.set_aside_note, line.set_aside_by, line.set_aside_at = reason, note, actor, now
        why = describe(REASONS[reason])
        notes.explain(line, describe(notes.SET_ASIDE, user=actor, when=stamp(now), reason=why, note=note))
        line.save()
        return line


def put_back_line(*, line_id: int, actor, now: datetime | None = None) -> StatementLine:
    """Return a set-aside line to the list: matched again if it named an account, else unmatched
    (or, in another currency, back among those)."""
    now = now or timezone.now()
    require_credit_permission(actor)
    with transaction.atomic():
        line = _lock(line_id)
        if line.state != State.SET_ASIDE:
            raise Conflict(
                _("This line's state is “%(state)s”: it is not set aside.") % {"state": line.get_state_display()}
            )
        if line.currency != line.receiving_account.currency:
            line.state = State.OTHER_CURRENCY
        else:
            line.state = State.MATCHED if line.account_id else State.UNMATCHED
        line.set_aside_reason, line.set_aside_note, line.set_aside_by, line.set_aside_at = SetAside.NONE, "", None, None
        notes.explain(line, describe(notes.PUT_BACK, user=actor, when=stamp(now)))
        line.save()
    # A transfer booked again after a return, put back after finance took its credit back: given back now (it
    # could not be credited: its transfer's source holds the first credit; found by a helper).
    note_booked_again([line.pk], receiving_account_id=line.receiving_account_id, actor=actor, now=now)
    line.refresh_from_db()
    return line


def _lock(line_id: int) -> StatementLine:
    return StatementLine.objects.select_for_update(of=("self",)).select_related("receiving_account").get(pk=line_id)
