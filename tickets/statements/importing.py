"""Importing a statement file for a receiving account: parse safely, refuse one whose lines
do not add up (nothing written), store each line once, then match and (when
STATEMENT_AUTO_CREDIT is on) credit the exact matches — each line in its own short
transaction, locked, so two clerks importing the same file at once do everything once."""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from money.errors import BillingError, Invalid, Refused

from ..models import ReceivingAccount, StatementCsvFormat, StatementFile, StatementLine
from . import camt, mt940
from .crediting import credit_locked_line, is_exact
from .csv_format import parse_csv
from .matching import already_credited, credited_ticket, match_line
from .parsed import ParsedStatement, compact_reference, fallback_reference

IMPORT_PERMISSION = "tickets.import_statementfile"
PARSERS = {StatementFile.Format.CAMT053: camt.parse_camt053, StatementFile.Format.MT940: mt940.parse_mt940}


@dataclass(frozen=True)
class ImportResult:
    statement: StatementFile
    lines: int
    new_lines: int
    credited: int
    unmatched: int


def detect_format(data: bytes) -> str:
    """XML is camt.053; a file with MT940 tags is MT940; anything else is read as CSV."""
    head = data[:2000].lstrip(b"\xef\xbb\xbf \t\r\n")
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
        raise Refused("Only finance staff who may import bank statements can do this.")
    if len(data) > settings.STATEMENT_MAX_BYTES:
        raise Invalid(
            f"The file is larger than {settings.STATEMENT_MAX_BYTES // 1_000_000} MB; split the statement.",
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
        raise Invalid(f"Statements in {fmt} cannot be imported.", code="statement_format")
    if parsed.currency != receiving.currency:
        raise Invalid(
            f"This statement is in {parsed.currency}; {receiving} receives {receiving.currency}. Nothing was imported.",
            code="statement_currency",
        )
    parsed.check_balances()
    statement, keys = _store(parsed, receiving, data=data, name=name, fmt=fmt, actor=actor, now=now)
    credited = unmatched = 0
    for line_id in _lines_of(receiving, keys):
        state = _match_and_credit(line_id, statement_currency=receiving.currency, actor=actor, now=now)
        credited += state == StatementLine.State.CREDITED
        unmatched += state == StatementLine.State.UNMATCHED
    return ImportResult(statement, len(keys), statement.new_line_count, credited, unmatched)


def _store(parsed: ParsedStatement, receiving, *, data, name, fmt, actor, now):
    with transaction.atomic():
        statement = StatementFile.objects.create(
            receiving_account=receiving,
            format=fmt,
            original_name=name[:200],
            sha256=hashlib.sha256(data).hexdigest(),
            statement_id=parsed.statement_id[:60],
            currency=parsed.currency,
            opening_balance=parsed.opening_balance,
            closing_balance=parsed.closing_balance,
            line_count=len(parsed.lines),
            uploaded_by=actor,
            uploaded_at=now,
        )
        rows, keys = [], set()
        for parsed_line in parsed.lines:
            reference = compact_reference(_text(parsed_line.bank_reference)) or fallback_reference(parsed_line)
            keys.add(parsed_line.key(reference))
            rows.append(
                StatementLine(
                    statement_file=statement,
                    receiving_account=receiving,
                    bank_reference=reference,
                    booking_date=parsed_line.booking_date,
                    amount=parsed_line.amount,
                    currency=parsed_line.currency,
                    payer_name=_text(parsed_line.payer_name),
                    payer_account=_text(parsed_line.payer_account),
                    remittance=_text(parsed_line.remittance),
                    creditor_reference=_text(parsed_line.creditor_reference),
                )
            )
        before = StatementLine.objects.filter(statement_file=statement).count()
        StatementLine.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        statement.new_line_count = StatementLine.objects.filter(statement_file=statement).count() - before
        statement.save(update_fields=["new_line_count"])
    return statement, keys


def _text(value: str) -> str:
    """What the bank wrote, without the NUL and control characters no column should hold."""
    return "".join(ch for ch in value if ch >= " " or ch in "\t\n")


def _lines_of(receiving, keys) -> list[int]:
    """The ids of this statement's lines not yet matched (a line an earlier statement brought
    was matched then)."""
    dates = {key[1] for key in keys}
    candidates = StatementLine.objects.filter(
        receiving_account=receiving, booking_date__in=dates, matched_at__isnull=True
    ).values_list("pk", "bank_reference", "booking_date", "amount", "currency")
    return sorted(pk for pk, *key in candidates if tuple(key) in keys)


def _match_and_credit(line_id: int, *, statement_currency: str, actor, now) -> str:
    with transaction.atomic():
        line = StatementLine.objects.select_for_update().get(pk=line_id)
        if line.matched_at is not None:
            return ""  # another import did it while we waited for the lock
        match = match_line(line, statement_currency=statement_currency)
        line.state, line.rule = match.state, match.rule
        line.account_id, line.bill_id, line.ticket_id = match.account_id, match.bill_id, match.ticket_id
        line.explanation = "\n".join(match.notes)
        line.suggestions = "; ".join(dict.fromkeys(match.suggestions))[:300]
        line.matched_at = now
        line.save()
        earlier = credited_ticket(line) if line.is_credit else None
        if earlier is not None:  # credit_locked_line links the line to the ticket's entry
            line.ticket_id = earlier.pk
        entry = (already_credited(line) or (earlier and earlier.ledger_entry)) if line.is_credit else None
        if entry is not None and line.state in (StatementLine.State.MATCHED, StatementLine.State.UNMATCHED):
            line.account_id = entry.account_id
            return _credit(line, actor, now)
        if line.state == StatementLine.State.MATCHED and settings.STATEMENT_AUTO_CREDIT:
            if is_exact(line, line.account):
                return _credit(line, actor, now)
        return line.state


def _credit(line: StatementLine, actor, now) -> str:
    try:
        with transaction.atomic():
            credit_locked_line(line, actor=actor, now=now)
    except BillingError as exc:
        line.refresh_from_db()
        line.explanation += f"\nNot credited: {exc.message}"
        line.save(update_fields=["explanation"])
    return line.state
