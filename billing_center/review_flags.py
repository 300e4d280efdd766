"""Finance's needs-review flag, on accounts, top-ups and refunds: our code sets it where it found
something a person must look at (a disputed card payment, a paid amount that does not match, a
refund the gateway refused, a credit limit passed) and writes a dated line in the record's note;
a finance clerk clears it once they have looked.

A clerk clears what they saw. The confirmation page shows each flagged record's note and sends
back its fingerprint; a record whose note changed since (a dispute opened while the page was
open) stays flagged, so no news is cleared unread. Clearing adds a dated line with the clerk's
name to the note, and History names the clerk.

Each line is kept twice: in `review_note` as English text (admin's search, History, the fingerprint) and,
for a line written from a message (accounts.descriptions.describe), in `review_note_parts` as its time and
parts, so each clerk reads the note in their own language (`shown`, with the reader the caller gives). A
note written before the parts existed has text and no parts: it goes on in plain text, none of it lost.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

REVIEWED = gettext_noop("reviewed by %(user)s.")  # the clerk's line; accounts.descriptions knows it


def stamp(now: datetime) -> str:
    """The time a note's line starts with: finance's day and hour with its offset from UTC, e.g.
    "2026-12-05 00:33 +08:00". A note is stored text, read by clerks in any time zone: the offset keeps
    each line's moment exact, also after FINANCE_TIME_ZONE changes (it had been UTC's hour, unmarked,
    and read as finance's)."""
    local = timezone.localtime(now, ZoneInfo(settings.FINANCE_TIME_ZONE))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"


def fingerprint(note: str) -> str:
    """What the confirmation page sends back for a note: short, and different for any change."""
    return hashlib.blake2s(note.encode(), digest_size=8).hexdigest()


@dataclass
class Reviewed:
    cleared: list = field(default_factory=list)  # the records whose flag was cleared
    changed: list = field(default_factory=list)  # noted again since the clerk looked: still flagged


def flag(record: models.Model, why: str, *, now: datetime) -> None:
    """Set a record's flag with a dated line saying why (a description, whose parts are kept); the
    caller saves `needs_review`, `review_note` and `review_note_parts`."""
    record.needs_review = True
    add_line(record, why, now=now)


def add_line(record: models.Model, why: str, *, now: datetime, parts: dict | None = None) -> None:
    """Add a dated line to the record's note, with its parts (the description's own, or `parts`)."""
    at, parts = stamp(now), parts or getattr(why, "parts", None)
    if record.review_note_parts is not None or not record.review_note:
        record.review_note_parts = [*(record.review_note_parts or []), {"at": at, "text": str(why), "note": parts}]
    record.review_note = with_line(record.review_note, f"{at} {why}")


def shown(note: str, parts: list | None, reader) -> str:
    """The note in the active language: each line's time and its text through `reader(text, parts)`
    (accounts.descriptions.entry_description); the stored text where there are no parts."""
    return "\n".join(_lines(note, parts, reader))


def _lines(note: str, parts: list | None, reader) -> list[str]:
    if parts is None:
        return note.rstrip("\n").splitlines()
    return [f"{line['at']} {reader(line['text'], line['note'])}" for line in parts]


@transaction.atomic
def mark_reviewed(model: type[models.Model], *, seen: dict[int, str], actor, now: datetime | None = None) -> Reviewed:
    """Clear the flag of each record in `seen` (its pk and its note's fingerprint as the clerk saw
    it) that is still flagged with that note. Records no longer flagged are left alone."""
    now = now or timezone.now()
    done = Reviewed()
    concrete = model._meta.concrete_model  # a proxy's save (postpaid accounts) would keep no history
    rows = concrete._base_manager.select_for_update().filter(pk__in=list(seen), needs_review=True).order_by("pk")
    for row in rows:
        if fingerprint(row.review_note) != seen[row.pk]:
            done.changed.append(row)
            continue
        record_as_found(row, now)
        row.needs_review = False
        name = actor.get_username()
        add_line(row, f"reviewed by {name}.", now=now, parts={"text": REVIEWED, "args": {"user": name}})
        row._history_user = actor
        row.save(update_fields=["needs_review", "review_note", "review_note_parts"])
        done.cleared.append(row)
    return done


def since_last_review(note: str, parts: list | None, reader) -> tuple[str, str]:
    """A note split where it was last cleared, each part in the active language (see `shown`): (the
    lines up to that review, the lines since), so the confirmation page shows what is new first."""
    lines = _lines(note, parts, reader)
    if parts is None:
        reviews = [i for i, line in enumerate(lines) if line.endswith(".") and " reviewed by " in line]
    else:
        reviews = [i for i, line in enumerate(parts) if (line["note"] or {}).get("text") == REVIEWED]
    last = max(reviews, default=-1)
    return "\n".join(lines[: last + 1]), "\n".join(lines[last + 1 :])


def record_as_found(row: models.Model, now: datetime) -> None:
    """History's record of the flag as the clerk found it, by no person, where the flag was set by a
    write that keeps no history (an account's, in SQL): without it, History would show the clerk's
    clearing as the change of everything written that way since the last record."""
    last = row.history.order_by("-history_date", "-history_id").first()
    if last is not None and (last.needs_review, last.review_note) == (row.needs_review, row.review_note):
        return
    row._history_user = None  # not the signed-in clerk simple-history's middleware would name
    type(row).history.bulk_history_create([row], update=True, default_date=now)


def with_line(note: str, line: str) -> str:
    """`note` with `line` added below, in the note's own style: an account's lines each end with a
    newline (accounts.lifecycle.flag_for_review), a top-up's and a refund's are joined by one."""
    joined = f"{note.rstrip(chr(10))}\n{line}".lstrip("\n")
    return f"{joined}\n" if note.endswith("\n") else joined
