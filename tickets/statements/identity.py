"""Which transfer each line of one statement file is: the reference it is stored (and credited) under, and
why a line is held back from crediting on import.

The bank's own reference names one transfer. A credit the file lists again under it, with nothing between,
is that transfer listed twice: stored numbered ("FT-1#2") and never credited on import. A credit the bank
reverses in the same file (camt.053 RvslInd, MT940 RC) is stored as reversed ("FT-1#REV") and never credited,
so the transfer's reference is free for the credit the bank books again: the customer is credited once for
the transfer, however often the bank corrects it, and keeps the credit the bank let stand (a reversal and
rebooking had credited twice). A line without a reference of the bank's gets a fallback one, numbered when
the file lists an identical line before it (a fee paid twice on one day)."""

from collections import defaultdict
from dataclasses import dataclass, replace

from accounts.descriptions import Description, describe

from .. import notes
from .parsed import ParsedLine, compact_reference, fallback_reference

CONTROL_CHARACTERS = dict.fromkeys(code for code in range(32) if chr(code) not in "\t\n")
REVERSED = "#REV"


@dataclass(frozen=True)
class Identified:
    line: ParsedLine
    reference: str
    held: Description | None = None  # a credit never credited on import, and why; a debit's note

    @property
    def key(self) -> tuple:
        return self.line.key(self.reference)


def clean(value: str) -> str:
    """What the bank wrote, without the NUL and control characters no column should hold."""
    return value.translate(CONTROL_CHARACTERS)


def identify(lines: list[ParsedLine]) -> list[Identified]:
    """The file's lines in its order, each with its reference and whether it is held."""
    found: list[Identified] = []
    keys: set[tuple] = set()
    credits: dict[str, list[int]] = defaultdict(list)  # the bank's reference → its credits here not reversed
    reversals: list[tuple[int, str]] = []  # (place, the bank's reference) of each reversal of a credit
    for line in lines:
        own = compact_reference(clean(line.bank_reference))
        held = line.held
        if own and line.amount < 0 and line.reversal:
            reversals.append((len(found), own))
            original = _reversed_credit(credits[own], found, -line.amount)
            # A batch the bank reverses as one entry: its parts (own/TX1, own/TX2 …) taken together.
            reversed_ = [original] if original is not None else _reversed_batch(own, credits, found, -line.amount)
            for place in reversed_:
                part = found[place]
                keys.discard(part.key)
                stored = compact_reference(clean(part.line.bank_reference)) or own
                reference = _numbered(stored[: 60 - len(REVERSED)] + REVERSED, part.line, keys)
                found[place] = replace(part, reference=reference, held=describe(notes.REVERSED_HERE, reference=own))
                keys.add(found[place].key)
            if reversed_:
                held = describe(notes.REVERSES_CREDIT_HERE, reference=own)
        elif own and line.amount > 0 and line.key(own) in keys:
            held = describe(notes.LISTED_TWICE, reference=own)
        reference = _numbered(own or fallback_reference(line), line, keys)
        keys.add(line.key(reference))
        if own and line.amount > 0:
            credits[own].append(len(found))
        found.append(Identified(line, reference, held))
    for place, own in reversals:  # booked again after it: the credit stands, the reversal takes nothing back
        if any(item.reference == own and item.line.amount == -found[place].line.amount for item in found[place:]):
            found[place] = replace(found[place], held=describe(notes.REVERSAL_REBOOKED, reference=own))
    return found


def _reversed_credit(candidates: list[int], found: list[Identified], amount) -> int | None:
    """The latest credit of `amount` among `candidates` (not reversed yet), taken off them."""
    for place in reversed(range(len(candidates))):
        if found[candidates[place]].line.amount == amount:
            return candidates.pop(place)
    return None


def _reversed_batch(own: str, credits: dict[str, list[int]], found: list[Identified], amount) -> list[int]:
    """The parts of the batch entry `own` (split as own/TX1, own/TX2 …, none reversed yet) when together they are
    `amount`, taken off the credits; else none. A batch reversed as one entry had left every part credited."""
    parts = [place for reference, places in credits.items() if reference.startswith(f"{own}/TX") for place in places]
    if not parts or sum(found[place].line.amount for place in parts) != amount:
        return []
    for reference in [reference for reference in credits if reference.startswith(f"{own}/TX")]:
        credits[reference] = []
    return parts


def _numbered(reference: str, line: ParsedLine, keys: set) -> str:
    """The line's reference, numbered when the same file lists an identical line before it ("NOREF-…#2"): two
    equal payments on one day without a reference of their own (a fee paid twice) had been stored as one, and
    the second had vanished from finance's to-do list. The same file, or an overlapping one, numbers them alike."""
    numbered, occurrence = reference, 1
    while line.key(numbered) in keys:
        occurrence += 1
        suffix = f"#{occurrence}"
        numbered = reference[: 60 - len(suffix)] + suffix
    return numbered
