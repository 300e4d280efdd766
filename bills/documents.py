"""A bill as a PDF and as the rows its page shows: one source for both, in the reader's language."""

from django.conf import settings
from django.utils.translation import gettext as _
from reportlab.lib.units import mm
from reportlab.platypus import Spacer, Table

from billing_center.pdf import build_pdf, key_value_table, paragraph, table_style
from money.formatting import format_money

from .cycle import finance_today
from .models import Bill

# Where a bill is paid by bank transfer: `rows(bill) -> [[(label, value), …], …]`, one table per receiving account.
# The receiving accounts are the tickets app's, which sits above bills: it registers them (tickets/apps.py).
PAYMENT_DETAILS: list = []


def register_payment_details(rows) -> None:
    PAYMENT_DETAILS.append(rows)


def repay_note() -> str:
    return _(
        "Repay online in the Billing Center (Billing › Repay), or by bank transfer to the receiving account shown "
        "there, quoting the bill number. A repayment settles your oldest bills first unless you choose others."
    )


def amount_due_label() -> str:
    """The row the bill's page sets in bold."""
    return _("Amount due")


def bill_rows(bill: Bill) -> list[tuple[str, str]]:
    return [
        (_("Bill number"), bill.number),
        (_("Billed to"), bill.account.name),
        (_("Period"), f"{bill.period_start:%Y-%m-%d} – {bill.period_end:%Y-%m-%d}"),
        (_("Issued"), f"{finance_today(bill.issued_at):%Y-%m-%d}"),
        (_("Due"), f"{bill.due_on:%Y-%m-%d}"),
        (amount_due_label(), format_money(bill.amount_due)),
        (_("Paid"), format_money(bill.amount_paid)),
        (_("Left to pay"), format_money(bill.remaining)),
    ]


def bill_pdf(bill: Bill) -> bytes:
    rows = [*bill_rows(bill), (_("Status"), bill.get_status_display())]
    lines = [[_("Service"), _("Description"), _("Charges"), _("Total")]] + [
        [line.service, line.description, str(line.count), format_money(line.total)] for line in bill.lines.all()
    ]
    lines.append(["", _("Total"), "", format_money(bill.amount_due)])
    usage = Table(lines, colWidths=[35 * mm, 80 * mm, 20 * mm, 30 * mm])
    usage.setStyle(table_style(lines))
    return build_pdf(
        _("Bill %(number)s") % {"number": bill.number},
        [
            paragraph(_("%(merchant)s — bill") % {"merchant": settings.MERCHANT_NAME}, "Title"),
            key_value_table(rows),
            Spacer(1, 8 * mm),
            paragraph(_("Usage in the period"), "Heading2"),
            usage,
            Spacer(1, 8 * mm),
            paragraph(repay_note()),
            *_payment_details(bill),
        ],
    )


def _payment_details(bill: Bill) -> list:
    """The receiving accounts registered for the bill, each under "Pay by bank transfer to"."""
    tables = [table for rows in PAYMENT_DETAILS for table in rows(bill)]
    return [
        part
        for table in tables
        for part in (paragraph(_("Pay by bank transfer to"), "Heading2"), key_value_table(table))
    ]
