"""What a statement parser hands the importer, whatever the file format."""

import hashlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext as _

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

    def key(self, reference: str) -> tuple:
        return (reference, self.booking_date, self.amount, self.currency)


@dataclass(frozen=True)
class ParsedStatement:
    statement_id: str
    currency: str
    opening_balance: Decimal
    closing_balance: Decimal
    lines: list[ParsedLine] = field(default_factory=list)

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


def compact_reference(text: str) -> str:
    return "".join(text.split()).upper()[:60]


def fallback_reference(line: ParsedLine) -> str:
    """For a line without a bank reference: the same line in two statements gets the same one."""
    seed = f"{line.booking_date}|{line.amount}|{line.currency}|{line.payer_name}|{line.remittance}"
    return "NOREF-" + hashlib.sha256(seed.encode()).hexdigest()[:20].upper()


def parse_decimal(text: str | None, what: str) -> Decimal:
    try:
        value = Decimal((text or "").strip())
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite():
        raise Invalid(
            _("The statement has an unreadable %(what)s: %(text)s.") % {"what": what, "text": repr(text)},
            code="statement_unreadable",
        )
    return value.quantize(Decimal("0.01"))
