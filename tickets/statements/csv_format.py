"""CSV statements, read with the column mapping saved for the receiving account
(StatementCsvFormat). A CSV has no declared opening and closing balance, so each line's running
balance must follow from the one before: the first line's gives the opening balance, the last
line's the closing one."""

import csv
import io
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from django.utils.translation import gettext as _

from money.errors import Invalid

from ..models import StatementCsvFormat
from .parsed import ParsedLine, ParsedStatement, currency_code, parse_decimal


def parse_csv(data: bytes, mapping: StatementCsvFormat | None, *, currency: str) -> ParsedStatement:
    if mapping is None:
        raise Invalid(
            _(
                "This is not a camt.053 (XML) or MT940 statement. To import it as a CSV, save this receiving "
                "account's CSV columns (Statement CSV formats) first."
            ),
            code="statement_csv_mapping",
        )
    try:
        text = data.decode(mapping.encoding)
    except UnicodeDecodeError as exc:
        raise Invalid(
            _("This file is not %(encoding)s text.") % {"encoding": mapping.get_encoding_display()},
            code="statement_unreadable",
        ) from exc
    try:
        rows = list(csv.DictReader(io.StringIO(text), delimiter=mapping.delimiter))
    except csv.Error as exc:  # a cell over the csv module's limit (128 KB), say
        raise Invalid(
            _("This CSV could not be read (%(error)s). Nothing was imported.") % {"error": exc},
            code="statement_unreadable",
        ) from exc
    needed = [mapping.date_column, mapping.amount_column, mapping.balance_column, mapping.reference_column]
    missing = [column for column in needed if rows and column not in rows[0]]
    if not rows or missing:
        raise Invalid(
            _("The CSV has no lines, or lacks the columns %(columns)s.")
            % {"columns": ", ".join(missing) or _("named in its mapping")},
            code="statement_unreadable",
        )
    lines, balances = [], []
    for number, row in enumerate(rows, start=2):
        lines.append(_line(row, mapping, currency, number))
        balances.append(
            parse_decimal(row[mapping.balance_column], _("balance on line %(number)s") % {"number": number})
        )
    unbalanced = ParsedStatement("", currency, opening_balance=Decimal(0), closing_balance=Decimal(0), lines=lines)
    unbalanced.check_currencies()  # a line in no currency is said so, not as a balance that does not follow
    opening, closing = _check_running_balances(lines, balances, currency)
    return replace(unbalanced, opening_balance=opening, closing_balance=closing)


def _line(row: dict, mapping: StatementCsvFormat, currency: str, number: int) -> ParsedLine:
    def column(name: str) -> str:
        return (row.get(name) or "").strip() if name else ""

    try:
        booked = datetime.strptime(column(mapping.date_column), mapping.date_format).date()
    except ValueError as exc:
        raise Invalid(
            _("Line %(number)s has an unreadable date: %(text)s.")
            % {"number": number, "text": repr(column(mapping.date_column))}
        ) from exc
    return ParsedLine(
        bank_reference=column(mapping.reference_column),
        booking_date=booked,
        amount=parse_decimal(
            column(mapping.amount_column).replace(",", ""), _("amount on line %(number)s") % {"number": number}
        ),
        currency=currency_code(column(mapping.currency_column) or currency),
        payer_name=column(mapping.payer_column)[:200],
        payer_account=column(mapping.payer_account_column)[:60],
        remittance=column(mapping.remittance_column),
    )


def _check_running_balances(lines: list[ParsedLine], balances: list, currency: str) -> tuple:
    """Each line's balance follows from the one before it in the same currency: a bank that keeps several
    currencies on one account shows each line's balance in that line's currency. The statement's opening
    and closing balances are those of the receiving account's currency."""
    last: dict[str, Decimal] = {}
    opening = None
    for number, (line, after) in enumerate(zip(lines, balances, strict=True), start=2):
        before = last.get(line.currency)
        if before is not None and before + line.amount != after:
            raise Invalid(
                _(
                    "The statement does not add up at line %(number)s: %(before)s plus %(amount)s is not the balance "
                    "%(after)s it shows. Nothing was imported."
                )
                % {"number": number, "before": before, "amount": line.amount, "after": after},
                code="statement_unbalanced",
            )
        if opening is None and line.currency == currency:
            opening = after - line.amount
        last[line.currency] = after
    if opening is None:
        raise Invalid(
            _(
                "None of this CSV's lines is in %(currency)s, the currency of the receiving account chosen: is it "
                "another account's export? Nothing was imported."
            )
            % {"currency": currency},
            code="statement_currency",
        )
    return opening, last[currency]
