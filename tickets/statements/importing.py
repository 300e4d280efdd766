"""Importing a statement file for a receiving account: parse safely, refuse one whose lines
do not add up (nothing written), store each line once, then match and (when
STATEMENT_AUTO_CREDIT is on) credit the exact matches.

Lines are matched in chunks, each chunk locked in its own transaction (in id order, so two
clerks importing the same file at once do everything once and never deadlock): the chunk is
matched with a handful of queries and its plain prepaid credits posted as one posting. A
line that closes a ticket, settles bills or was credited already (a ticket, an earlier
statement) is then credited on its own, locked again, by the same path a clerk's
confirmation takes."""

import hashlib
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.descriptions import describe
from billing_center.db import insert_missing, update_in_bulk
from money.errors import BillingError, Invalid, Refused

from ..models import ReceivingAccount, StatementCsvFormat, StatementFile, StatementLine
from ..notes import EXPLANATION_SEPARATOR, NOT_CREDITED, REVERSAL_REBOOKED, SUGGESTION_SEPARATOR, explain, joined
from . import camt, mt940
from .continuing import continued, missing_before
from .credited_elsewhere import note_credited_elsewhere
from .crediting import CREDITABLE, credit_exact_lines, credit_locked_line, is_exact
from .csv_format import parse_csv
from .events import lines_matched
from .identity import Identified, clean, identify
from .matching import earlier_credits, hold, match_lines
from .parsed import ParsedStatement, compact_reference, fallback_reference, legacy_reference
from .rebookings import note_booked_again
from .returns import note_returns, note_returns_of

IMPORT_PERMISSION = "tickets.import_statementfile"
LINES_PER_CHUNK = 500
PARSERS = {StatementFile.Format.CAMT053: camt.parse_camt053, StatementFile.Format.MT940: mt940.parse_mt940}


@dataclass(frozen=True)
class ImportResult:
    statement: StatementFile
    lines: int
    new_lines: int
    credited: int  # credited by this import
    linked: int  # credited before (a ticket, an earlier statement): linked to that credit, not credited again
    to_confirm: int  # matched, waiting for a clerk's confirmation
    unmatched: int
    # Lines without a reference of the bank's identical to lines imported before, not added: listed again by an
    # overlapping statement, or (the clerk is told) a second payment alike in every detail.
    identical_before: int = 0
    # The closing balance of the statement imported before, when this one opens at another after it (continuing).
    previous_closing: Decimal | None = None


LINKED = "linked"  # an outcome of this import's, beside the lines' states: credited before, linked to that credit


def detect_format(data: bytes) -> str:
    """XML is camt.053 (UTF-8, or UTF-16 with its byte order mark); a file with MT940 tags is MT940; anything
    else is read as CSV."""
    head = data[:2000].lstrip(b"\xef\xbb\xbf \t\r\n")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16: XML if its text starts as XML does
        head = data[:2000].decode("utf-16", errors="ignore").lstrip("\ufeff \t\r\n").encode()
    if head.startswith(b"<"):
        return StatementFile.Format.CAMT053
    if b":20:" in head and b":60" in head or head.startswith((b"{1:", b":20:")):
        return StatementFile.Format.MT940
    return StatementFile.Format.CSV


def import_statement(
    *, receiving_account_id: int, data: bytes, name: str, actor, fmt: str = "", now: datetime | None = None
) -> ImportResult:
    now = now or timezone.now()
    if not (actor.is_active and actor.is_staff and actor.has_perm(IMPORT_PERMISSION)):
        raise Refused(_("Only finance staff who may import bank statements can do this."))
    if len(data) > settings.STATEMENT_MAX_BYTES:
        raise Invalid(
            _("The file is larger than %(megabytes)s MB; split the statement.")
            % {"megabytes": settings.STATEMENT_MAX_BYTES // 1_000_000},
            code="statement_too_large",
        )
    fmt = fmt or detect_format(data)
    receiving = ReceivingAccount.objects.get(pk=receiving_account_id)
    if fmt == StatementFile.Format.CSV:
        mapping = StatementCsvFormat.objects.filter(receiving_account=receiving).first()
        parsed = parse_csv(data, mapping, currency=receiving.currency)
    elif fmt in PARSERS:
        parsed = PARSERS[fmt](data)
    else:
        raise Invalid(_("Statements in %(format)s cannot be imported.") % {"format": fmt}, code="statement_format")
    if len(parsed.lines) > settings.STATEMENT_MAX_LINES:
        raise Invalid(
            _(
                "This statement has %(count)s lines; at most %(most)s are imported from one file. Ask the bank for "
                "shorter statements (a day or a week each). Nothing was imported."
            )
            % {"count": len(parsed.lines), "most": settings.STATEMENT_MAX_LINES},
            code="statement_too_long",
        )
    parsed.check_account(receiving)
    parsed.check_currencies()
    if parsed.currency != receiving.currency:
        raise Invalid(
            _("This statement is in %(currency)s; %(account)s receives %(account_currency)s. Nothing was imported.")
            % {"currency": parsed.currency, "account": receiving, "account_currency": receiving.currency},
            code="statement_currency",
        )
    parsed.check_balances()
    first_day = min((line.booking_date for line in parsed.lines), default=None)
    previous_closing = missing_before(receiving, parsed.opening_balance, first_day)
    statement, keys, held, identical = _store(parsed, receiving, data=data, name=name, fmt=fmt, actor=actor, now=now)
    line_ids, states = _lines_of(receiving, keys), {}
    for start in range(0, len(line_ids), LINES_PER_CHUNK):
        chunk = line_ids[start : start + LINES_PER_CHUNK]
        one_by_one = _match_chunk(chunk, receiving=receiving, actor=actor, now=now, states=states, held=held)
        for line_id in one_by_one:
            states[line_id] = _credit_one(line_id, actor=actor, now=now)
    rebooked = {key for key, why in held.items() if why.parts["text"] == REVERSAL_REBOOKED}
    note_returns(line_ids, now=now, rebooked=rebooked)  # after the credits: a return in this file is one too
    note_returns_of(line_ids, now=now)  # this file's credits returned by debits stored before
    note_booked_again(line_ids, receiving_account_id=receiving.pk, actor=actor, now=now)
    counts = Counter(states.values())
    return ImportResult(
        statement,
        len(keys),
        statement.new_line_count,
        credited=counts[StatementLine.State.CREDITED],
        linked=counts[LINKED],
        to_confirm=counts[StatementLine.State.MATCHED],
        unmatched=counts[StatementLine.State.UNMATCHED],
        identical_before=identical,
        previous_closing=previous_closing,
    )


def _store(parsed: ParsedStatement, receiving, *, data, name, fmt, actor, now):
    with transaction.atomic():
        found = _as_stored_before(identify(parsed.lines), receiving)
        digest, statement_id = hashlib.sha256(data).hexdigest(), parsed.statement_id[:60]
        # before this statement is stored
        found, identical = continued(found, receiving, parsed.opening_balance, sha256=digest, statement_id=statement_id)
        statement = StatementFile.objects.create(
            receiving_account=receiving,
            format=fmt,
            original_name=name[:200],
            sha256=digest,
            statement_id=statement_id,
            currency=parsed.currency,
            opening_balance=parsed.opening_balance,
            closing_balance=parsed.closing_balance,
            line_count=len(parsed.lines),
            uploaded_by=actor,
            uploaded_at=now,
        )
        rows, keys, held = [], set(), {}
        for identified in found:
            parsed_line, reference = identified.line, identified.reference
            keys.add(identified.key)
            if identified.held is not None:
                held[identified.key] = identified.held
            rows.append(
                StatementLine(
                    statement_file=statement,
                    receiving_account=receiving,
                    bank_reference=reference,
                    booking_date=parsed_line.booking_date,
                    amount=parsed_line.amount,
                    currency=parsed_line.currency,
                    payer_name=clean(parsed_line.payer_name),
                    payer_account=clean(parsed_line.payer_account),
                    remittance=clean(parsed_line.remittance),
                    creditor_reference=clean(parsed_line.creditor_reference),
                    payer_reference=clean(parsed_line.payer_reference),
                )
            )
        statement.new_line_count = insert_missing(rows)  # a line an earlier statement brought stays as it was
        statement.save(update_fields=["new_line_count"])
    return statement, keys, held, identical


def _as_stored_before(found: list[Identified], receiving) -> list[Identified]:
    """The lines, each without a reference of the bank's under the reference an earlier statement stored it
    under, where that was the payer's id or a fallback seeded without it: such a line listed again (an
    overlapping statement) is the line stored then, not a new one credited again. A batch stored whole before
    is that line too (_batches_stored_whole)."""
    found = _batches_stored_whole(found, receiving)
    legacy = {
        place: legacy_reference(item.line)
        for place, item in enumerate(found)
        if item.reference == fallback_reference(item.line) and legacy_reference(item.line) != item.reference
    }
    if not legacy:
        return found
    stored = set(
        StatementLine.objects.filter(receiving_account=receiving, bank_reference__in=set(legacy.values())).values_list(
            "bank_reference", "booking_date", "amount", "currency"
        )
    )
    found = list(found)
    for place, reference in legacy.items():
        if found[place].line.key(reference) in stored:
            found[place] = replace(found[place], reference=reference)
    return found


def _batches_stored_whole(found: list[Identified], receiving) -> list[Identified]:
    """A batch entry an earlier import stored as one line — before batches were split (credited whole to its
    first transaction's customer), or held whole because its parts did not add up then — is that line, not its
    parts: the parts would credit every transaction of it a second time. Finance splits the line by hand."""
    batches: dict[int, list[int]] = {}  # the parts' places, by their entry
    for place, item in enumerate(found):
        if item.line.whole:
            batches.setdefault(id(item.line.whole), []).append(place)
    if not batches:
        return found
    keys = {line.key(reference) for place, *_ in batches.values() for line, reference in _whole_readings(found[place])}
    stored = set(
        StatementLine.objects.filter(
            receiving_account=receiving, bank_reference__in={key[0] for key in keys}
        ).values_list("bank_reference", "booking_date", "amount", "currency")
    )
    # A stored line this file lists itself (a batch held whole again) is that line, not another batch's; and a
    # stored line is claimed by one batch of the file at most (two batches of a day and total without references).
    taken = {item.key for item in found if not item.line.whole}
    found, dropped = list(found), set()
    for places in batches.values():
        readings = _whole_readings(found[places[0]])
        stored_as = [(line, ref) for line, ref in readings if line.key(ref) in stored and line.key(ref) not in taken]
        if stored_as:  # the first part becomes the line stored before, the others go
            found[places[0]] = Identified(*stored_as[0])
            taken.add(found[places[0]].key)
            dropped.update(places[1:])
    return [item for place, item in enumerate(found) if place not in dropped]


def _whole_readings(part: Identified) -> list[tuple]:
    """The (line, reference) an earlier import may have stored a part's whole entry under: read with its first
    transaction's details, and read bare (as one held whole is stored), each under the bank's reference or a
    fallback. A bare fallback names only the day and the total: _batches_stored_whole lets one batch of a file
    claim such a line, and none when the file lists that line itself (found by helpers)."""
    readings = []
    for line in part.line.whole:
        own = compact_reference(clean(line.bank_reference))
        readings += [(line, ref) for ref in (own, fallback_reference(line), legacy_reference(line)) if ref]
    return readings


def _lines_of(receiving, keys) -> list[int]:
    """The ids of this statement's lines not yet matched (a line an earlier statement brought
    was matched then)."""
    dates = {key[1] for key in keys}
    candidates = StatementLine.objects.filter(
        receiving_account=receiving, booking_date__in=dates, matched_at__isnull=True
    ).values_list("pk", "bank_reference", "booking_date", "amount", "currency")
    return sorted(pk for pk, *key in candidates if tuple(key) in keys)


MATCH_FIELDS = [
    "state", "rule", "account", "bill", "ticket", "explanation", "explanation_parts", "suggestions",
    "suggestion_parts", "matched_at",
]  # fmt: skip
CREDIT_FIELDS = ["ledger_entry", "credited_by", "credited_at"]


def _match_chunk(line_ids: list[int], *, receiving, actor, now, states: dict, held: dict) -> list[int]:
    """Match the chunk's lines not matched yet (another import may have done some while we
    waited for the locks) and credit the plain exact ones; the ids of the lines to credit
    one by one. Each matched line's state goes into `states`. A line `held` (by its key) waits
    unmatched with the reason first, whatever it names: finance credits it by hand."""
    one_by_one = []
    with transaction.atomic():
        lines = list(
            StatementLine.objects.select_for_update().filter(pk__in=line_ids, matched_at__isnull=True).order_by("pk")
        )
        matches = match_lines(lines, statement_currency=receiving.currency)
        for line in lines:
            match = hold(matches[line.pk], held.get(_key(line)))
            line.state, line.rule = match.state, match.rule
            line.account_id, line.bill_id, line.ticket_id = match.account_id, match.bill_id, match.ticket_id
            line.explanation, line.explanation_parts = joined(match.notes, EXPLANATION_SEPARATOR)
            suggestions, line.suggestion_parts = joined(list(dict.fromkeys(match.suggestions)), SUGGESTION_SEPARATOR)
            line.suggestions = suggestions[:300]
            line.matched_at = now
        earlier = earlier_credits([line for line in lines if _key(line) not in held])
        one_by_one += [line.pk for line in lines if line.pk in earlier and line.state in CREDITABLE]
        if settings.STATEMENT_AUTO_CREDIT:  # linked to that credit, never credited again
            matched = [line for line in lines if line.state == StatementLine.State.MATCHED and line.pk not in earlier]
            one_by_one += [line.pk for line in credit_exact_lines(matched, actor=actor, now=now)]
        update_in_bulk(lines, MATCH_FIELDS + CREDIT_FIELDS)
        lines_matched([line for line in lines if line.account_id is not None], now=now)
        states.update((line.pk, line.state) for line in lines)
    return sorted(one_by_one)


def _key(line: StatementLine) -> tuple:
    return (line.bank_reference, line.booking_date, line.amount, line.currency)


def _credit_one(line_id: int, *, actor, now) -> str:
    """Credit one matched line on its own, locked again: linked to a credit its transfer already
    has (LINKED), or credited (closing its ticket, settling bills). Its state, or LINKED."""
    with transaction.atomic():
        line = StatementLine.objects.select_for_update().get(pk=line_id)
        if line.state not in CREDITABLE:
            return line.state  # another import, or a clerk, did it meanwhile
        earlier, named = earlier_credits([line]).get(line.pk), line.account_id
        if earlier is not None:
            line.account_id = earlier.entry.account_id
            line.ticket_id = earlier.ticket.pk if earlier.ticket else line.ticket_id
        elif not (settings.STATEMENT_AUTO_CREDIT and line.state == StatementLine.State.MATCHED):
            return line.state
        elif not is_exact(line, line.account, actor=actor):
            return line.state
        try:
            with transaction.atomic():
                # Linked to its transfer's earlier credit, or credited by its match alone (by_itself).
                outcome = credit_locked_line(line, actor=actor, now=now, by_itself=earlier is None)
        except BillingError as exc:
            line.refresh_from_db()
            explain(line, describe(NOT_CREDITED, why=exc.message))
            line.save(update_fields=["explanation", "explanation_parts"])
            return line.state
        if not outcome.linked:
            return line.state
        if named is not None and named != line.account_id:
            note_credited_elsewhere(line, named, now=now)
            line.save(update_fields=["explanation", "explanation_parts"])
        return LINKED
