"""Lines without a reference of the bank's that are identical to lines stored before (same fallback reference,
date, amount and currency): the same line listed again by an overlapping statement, or a second payment alike
in every detail (a fee paid twice) listed by the statement that follows on. A fallback reference cannot tell
them apart; the statements' balances can. When this statement opens at the closing balance of the one
imported last, and none of its lines is booked before the latest line stored, it follows on and does not
overlap: such a line is kept as a new line ("NOREF-…#2"), held back from crediting with a note, for finance
to check (a balance can come back to one figure by chance: never credited twice on a guess). Otherwise it is
the line stored before, not added, and the import counts it, so the clerk is told (it had vanished silently)."""

from dataclasses import replace
from decimal import Decimal

from django.db.models import Max, Q

from accounts.descriptions import describe

from .. import notes
from ..models import StatementFile, StatementLine
from .identity import Identified

FALLBACK = "NOREF-"


def continued(
    found: list[Identified], receiving, opening: Decimal, *, sha256: str, statement_id: str
) -> tuple[list[Identified], int]:
    """The lines, those identical to stored lines kept as new ones when the statement follows on; and how
    many identical ones are not added (0 when it follows on). A statement never follows on from itself: the
    same file, or the same statement id, uploaded again (a day swept to zero opens at its own closing balance,
    and its lines had come back as "second payments"; found by a helper)."""
    fallback = [place for place, item in enumerate(found) if item.reference.startswith(FALLBACK)]
    if not fallback:
        return found, 0
    stored = set(
        StatementLine.objects.filter(
            receiving_account=receiving,
            booking_date__in={found[place].line.booking_date for place in fallback},
            bank_reference__startswith=FALLBACK,
        ).values_list("bank_reference", "booking_date", "amount", "currency")
    )
    repeated = [place for place in fallback if found[place].key in stored]
    if not repeated:
        return found, 0
    again = Q(sha256=sha256) | (Q(statement_id=statement_id) if statement_id else Q(pk__in=[]))
    copy = StatementFile.objects.filter(again, receiving_account=receiving).exists()
    if copy or not _follows_on(receiving, opening, min(item.line.booking_date for item in found)):
        return found, len(repeated)
    taken, found = stored | {item.key for item in found}, list(found)
    for place in repeated:
        item = found[place]
        base, occurrence = item.reference.split("#")[0], 1
        reference = item.reference
        while item.line.key(reference) in taken:
            occurrence += 1
            reference = f"{base}#{occurrence}"
        taken.add(item.line.key(reference))
        found[place] = replace(item, reference=reference, held=describe(notes.IDENTICAL_FOLLOWING_ON))
    return found, 0


def _follows_on(receiving, opening: Decimal, first_day) -> bool:
    closing, last_day = _last_stored(receiving)
    return closing == opening and (last_day is None or first_day >= last_day)


def _last_stored(receiving) -> tuple[Decimal | None, object]:
    """The closing balance of the statement imported last for the account (None: none yet), and its latest line's
    booking day (None: no line)."""
    latest = StatementFile.objects.filter(receiving_account=receiving).order_by("-pk").first()
    last_day = StatementLine.objects.filter(receiving_account=receiving).aggregate(day=Max("booking_date"))["day"]
    return (latest.closing_balance if latest else None), last_day


def missing_before(receiving, opening: Decimal, first_day) -> Decimal | None:
    """The closing balance of the statement imported last for the account, when this one opens at another after
    it (none of its lines booked on or before the latest line stored): a statement in between may be missing, and
    with it transfers not credited; the clerk is told (it had been imported without a word; found by a helper).
    None when it follows on, or overlaps what is stored (an earlier day's statement, days listed again)."""
    closing, last_day = _last_stored(receiving)
    if closing is None or closing == opening:
        return None
    if first_day is not None and last_day is not None and first_day <= last_day:
        return None
    return closing
