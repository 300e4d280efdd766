"""MT940 (SWIFT customer statement) read with the kept `mt-940` parser. A file without its
opening (:60F:) or closing (:62F:) balance — a truncated one — is refused; the importer checks
that the lines add up from one to the other."""

import logging
import re
from datetime import date
from decimal import Decimal

import mt940
from django.utils.translation import gettext as _

from money.errors import Invalid

from .parsed import ParsedLine, ParsedStatement, currency_code, require_same_currency, statement_amount

logger = logging.getLogger(__name__)
# A reversal of a credit (:61: "RC") is money going out, as the debit it is (the parser's default had read it as
# a credit), a reversal of a debit ("RD") money coming in; a mark in lower case is the same mark.
OPTIONS = mt940.Options(reversal_sign=True, case_insensitive_marks=True)


STATEMENT_START = re.compile(r"^:20:", re.MULTILINE)  # each statement's transaction reference opens it


def parse_mt940(data: bytes) -> ParsedStatement:
    text = _decode(data)
    statements = len(STATEMENT_START.findall(text))
    if statements > 1:
        # The parser keeps the last statement's account and balances and every statement's lines: another
        # account's lines had been credited, checked against our statement's account (found by a helper).
        raise Invalid(
            _("This MT940 file holds %(count)s statements; upload each on its own. Nothing was imported.")
            % {"count": statements},
            code="statement_unreadable",
        )
    statement = mt940.models.Transactions(options=OPTIONS)
    try:
        statement.parse(text)
    except Exception as exc:  # the parser raises what it meets; any of it means "not a statement we read"
        logger.info("MT940 file not read: %r", exc)  # the parser's words name its own objects, not the file's lines
        raise Invalid(
            _(
                "This MT940 file could not be read: a field (:61:, :86: …) is not laid out as MT940 lays it out. "
                "Nothing was imported."
            ),
            code="statement_unreadable",
        ) from exc
    opening, closing = statement.data.get("final_opening_balance"), statement.data.get("final_closing_balance")
    if opening is None or closing is None:
        raise Invalid(
            _(
                "This MT940 file has no opening (:60F:) or closing (:62F:) balance; it may be cut short. "
                "Nothing was imported."
            ),
            code="statement_unreadable",
        )
    require_same_currency(currency_code(str(opening.amount.currency)), currency_code(str(closing.amount.currency)))
    return ParsedStatement(
        statement_id=str(statement.data.get("transaction_reference") or "")[:60],
        currency=currency_code(str(opening.amount.currency)),
        opening_balance=_amount(opening.amount, _("opening balance")),
        closing_balance=_amount(closing.amount, _("closing balance")),
        lines=[_line(transaction.data) for transaction in statement],
        account=str(statement.data.get("account_identification") or "")[:60],
    )


def _line(data: dict) -> ParsedLine:
    # Only the bank's reference (after "//") names the transfer: the customer reference is the payer's, kept for a
    # ticket quoting it (a payer's fixed "MONTHLYFEE" had linked each month's transfer to the first month's credit).
    reference = data.get("bank_reference") or ""
    payer_reference = str(data.get("customer_reference") or "")
    when = data.get("entry_date") or data.get("date")
    return ParsedLine(
        bank_reference=reference,
        booking_date=date(when.year, when.month, when.day),  # mt940's own Date subclass, as a plain date
        amount=_amount(data["amount"], _("amount")),
        currency=currency_code(str(data.get("currency") or data["amount"].currency)),
        payer_name=str(data.get("applicant_name") or "")[:200],
        payer_account=str(data.get("applicant_iban") or "")[:60],
        remittance=" ".join(str(data.get(key) or "") for key in ("transaction_details", "extra_details")).strip(),
        payer_reference="" if payer_reference.upper() == "NONREF" else payer_reference[:60],
        reversal=str(data.get("status") or "").upper().startswith("R"),
    )


def _amount(amount, what: str) -> Decimal:
    return statement_amount(Decimal(str(amount.amount)), what)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
