"""What a statement parser hands the importer, whatever the file format."""

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import F, Value
from django.db.models.functions import Replace, Upper
from django.utils.translation import gettext as _
from moneyed import CurrencyDoesNotExist, get_currency

from accounts.descriptions import Description
from money.errors import Invalid


@dataclass(frozen=True)
class ParsedLine:
    bank_reference: str
    booking_date: date
    amount: Decimal  # negative for a debit
    currency: str
    payer_name: str = ""
    payer_account: str = ""
    remittance: str = ""
    creditor_reference: str = ""
    # The payer's own id for the transfer (camt.053 EndToEndId, MT940's customer reference): kept for a ticket that
    # quotes it, never the transfer's identity (a payer may reuse one every month, two payers one value).
    payer_reference: str = ""
    reversal: bool = False  # the bank reverses an entry of its own (camt.053 RvslInd, MT940 RC and RD)
    held: Description | None = None  # never credited on import, and why (a batch whose parts do not add up)
    # A batch's part: its entry read whole, as imports stored it before batches were split (with its first
    # transaction's details) and as one held whole is stored (without): importing.py looks for it.
    whole: tuple["ParsedLine", ...] = field(default=(), compare=False, repr=False)

    def key(self, reference: str) -> tuple:
        return (reference, self.booking_date, self.amount, self.currency)


@dataclass(frozen=True)
class ParsedStatement:
    statement_id: str
    currency: str
    opening_balance: Decimal
    closing_balance: Decimal
    lines: list[ParsedLine] = field(default_factory=list)
    account: str = (
        ""  # the account the statement is for, where the file says (camt.053's IBAN or other id, MT940's :25:)
    )

    def check_account(self, receiving) -> None:
        """A statement that names its account is imported for that account only: one for another account had
        been stored under whichever receiving account the clerk picked, and its totals mixed with that one's.
        MT940 may name it as "BIC/IBAN", "BLZ/account number" or with the currency after it: its last part is
        compared, and a German bank code and account number with the IBAN they make."""
        ours = {"".join(number.split()).upper() for number in (receiving.iban, receiving.account_number) if number}
        named = "".join(self.account.split()).upper()
        if named and ours and not _names_ours(named, ours, self.currency):
            raise Invalid(
                _("This statement is for account %(named)s, not %(account)s (%(number)s). Nothing was imported.")
                % {"named": self.account[:40], "account": receiving.bank_name, "number": receiving.number_display},
                code="statement_account",
            )

    def check_currencies(self) -> None:
        """The statement's currency and every line's are ISO 4217 codes: a line in "RMB" or "ZZZ" had been
        stored, and every page that adds money up failed on it."""
        for line in [None, *self.lines]:
            currency = self.currency if line is None else line.currency
            if not is_currency_code(currency):
                if line is None:
                    where = _("The statement")
                elif line.bank_reference:
                    where = _("Its line %(reference)s") % {"reference": line.bank_reference[:60]}
                else:
                    where = _("Its line of %(date)s") % {"date": line.booking_date.isoformat()}
                raise Invalid(
                    _(
                        "%(where)s is in “%(currency)s”, which is not a currency code (ISO 4217, such as USD or "
                        "CNY). Nothing was imported."
                    )
                    % {"where": where, "currency": currency[:20]},
                    code="statement_currency",
                )

    def check_balances(self) -> None:
        """Opening plus the lines in the statement's currency must give the closing balance."""
        total = sum((line.amount for line in self.lines if line.currency == self.currency), Decimal("0"))
        if self.opening_balance + total != self.closing_balance:
            raise Invalid(
                _(
                    "The statement does not add up: opening balance %(opening)s plus its lines "
                    "(%(total)s) is %(sum)s, but its closing balance is %(closing)s. "
                    "Nothing was imported; ask the bank for the statement again."
                )
                % {
                    "opening": self.opening_balance,
                    "total": f"{total:+}",
                    "sum": self.opening_balance + total,
                    "closing": self.closing_balance,
                },
                code="statement_unbalanced",
            )


def _names_ours(named: str, ours: set[str], currency: str) -> bool:
    parts = named.split("/")
    last = parts[-1]
    if currency and last.endswith(currency) and last[: -len(currency)][-1:].isdigit():
        last = last[: -len(currency)]  # "DE89…3000EUR"
    if named in ours or last in ours:
        return True
    bank_code = parts[-2] if len(parts) > 1 else ""
    return bool(bank_code.isdigit() and last.isdigit()) and any(
        number[:2].isalpha() and number.endswith(bank_code + last.zfill(10)) for number in ours
    )


# What Chinese banks' exports write for a currency instead of its ISO 4217 code.
CURRENCY_ALIASES = {"RMB": "CNY", "人民币": "CNY", "美元": "USD", "欧元": "EUR", "港币": "HKD", "港元": "HKD"}


def currency_code(text: str | None) -> str:
    """A currency as a statement wrote it, as its ISO 4217 code where a bank wrote a common other name
    ("RMB", "人民币" → "CNY"); checked by ParsedStatement.check_currencies, never cut to fit."""
    cleaned = (text or "").strip().upper()
    return CURRENCY_ALIASES.get(cleaned, cleaned)


def require_same_currency(opening: str, closing: str) -> None:
    """A statement's opening and closing balances are in one currency (the add-up check compares figures)."""
    if opening != closing:
        raise Invalid(
            _("The statement opens in %(opening)s and closes in %(closing)s. Nothing was imported.")
            % {"opening": opening[:20], "closing": closing[:20]},
            code="statement_unreadable",
        )


def is_currency_code(code: str) -> bool:
    try:
        get_currency(code)
    except CurrencyDoesNotExist:
        return False
    return len(code) == 3


def compact_reference(text: str) -> str:
    """A bank reference as we keep and show it: without spaces, upper case ("FT-2611 2000" → "FT-26112000")."""
    return "".join(text.split()).upper()[:60]


SEPARATORS = (" ", "-", "/", ".", "_")  # what banks and people put between a reference's letters and digits


def reference_key(text: str) -> str:
    """What two spellings of one reference share ("BK-1005", "bk 1005", "BK1005"): compared by this, never
    stored; tickets.models.reference_key_of is the same in SQL. The ledger's source is written with it, so
    one transfer is one source however a clerk typed it (the hyphen had made two, each credited)."""
    for separator in SEPARATORS:
        text = text.replace(separator, "")
    return "".join(text.split()).upper()[:60]


def reference_key_of(field):
    """reference_key in SQL, of a reference column (an index serves each use), or of an expression such as
    an OuterRef to one."""
    expression = F(field) if isinstance(field, str) else field
    for separator in SEPARATORS:
        expression = Replace(expression, Value(separator), Value(""))
    return Upper(expression)


def fallback_reference(line: ParsedLine) -> str:
    """For a line without a bank reference: the same line in two statements gets the same one. The payer's own
    id, account and structured reference are part of it where the bank gave them (two payments of one amount on
    one day from one payer name for two RF references are two transfers); a line without any of them is seeded
    as before, so a line stored then keeps its reference."""
    return "NOREF-" + _digest(_seed(line, line.payer_reference, line.payer_account, line.creditor_reference))


def legacy_reference(line: ParsedLine) -> str:
    """The reference a line without one of the bank's was stored under before the payer's id stopped being
    one: the payer's id, else the fallback seeded without the payer's id, account and structured reference."""
    return compact_reference(line.payer_reference) or "NOREF-" + _digest(_seed(line))


def _seed(line: ParsedLine, *more: str) -> str:
    seed = f"{line.booking_date}|{line.amount}|{line.currency}|{line.payer_name}|{line.remittance}"
    return seed + "|" + "|".join(more) if any(more) else seed


def _digest(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:20].upper()


PLAIN_DECIMAL = re.compile(r"[+-]?\d+(?:\.\d+)?")
# The line and balance columns hold 18 digits, two of them cents (StatementLine.amount).
LARGEST = Decimal("9999999999999999.99")


def parse_decimal(text: str | None, what: str) -> Decimal:
    """An amount as the statement wrote it: plain digits with a point (no exponent, no NaN)."""
    cleaned = (text or "").strip()
    if not PLAIN_DECIMAL.fullmatch(cleaned):
        raise Invalid(
            _("The statement has an unreadable %(what)s: %(text)s. Nothing was imported.")
            % {"what": what, "text": repr(text)},
            code="statement_unreadable",
        )
    return statement_amount(Decimal(cleaned), what)


def statement_amount(value: Decimal, what: str) -> Decimal:
    """The amount in cents, exactly as the bank wrote it: never rounded (a rounded figure would credit
    what did not arrive, and pass the add-up check), and no larger than a line can hold (it had been
    stored, then failed every page that read it back)."""
    if abs(value) > LARGEST:
        raise Invalid(
            _("The statement's %(what)s, %(amount)s, is larger than a statement can hold. Nothing was imported.")
            % {"what": what, "amount": value},
            code="statement_amount",
        )
    cents = value.quantize(Decimal("0.01"))
    if cents != value:
        raise Invalid(
            _(
                "The statement's %(what)s, %(amount)s, has fractions of a cent; ask the bank for the statement "
                "again. Nothing was imported."
            )
            % {"what": what, "amount": value},
            code="statement_amount",
        )
    return cents
