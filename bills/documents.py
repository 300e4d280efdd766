"""A bill as a PDF and as the rows its page shows: one source for both."""

from django.conf import settings
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table

from billing_center.pdf import STYLES, build_pdf, key_value_table
from money.formatting import format_money

from .cycle import finance_today
from .models import Bill

REPAY_NOTE = (
    "Repay online in the Billing Center (Billing › Repay), or by bank transfer to the receiving account shown "
    "there, quoting the bill number. A repayment settles your oldest bills first unless you choose others."
)


def bill_rows(bill: Bill) -> list[tuple[str, str]]:
    return [
        ("Bill number", bill.number),
        ("Billed to", bill.account.name),
        ("Period", f"{bill.period_start:%Y-%m-%d} – {bill.period_end:%Y-%m-%d}"),
        ("Issued", f"{finance_today(bill.issued_at):%Y-%m-%d}"),
        ("Due", f"{bill.due_on:%Y-%m-%d}"),
        ("Amount due", format_money(bill.amount_due)),
        ("Paid", format_money(bill.amount_paid)),
        ("Left to pay", format_money(bill.remaining)),
    ]


def bill_pdf(bill: Bill) -> bytes:
    rows = [*bill_rows(bill), ("Status", bill.get_status_display())]
    lines = [["Service", "Description", "Charges", "Total"]] + [
        [line.service, line.description, str(line.count), format_money(line.total)] for line in bill.lines.all()
    ]
    lines.append(["", "Total", "", format_money(bill.amount_due)])
    return build_pdf(
        f"Bill {bill.number}",
        [
            Paragraph(f"{settings.MERCHANT_NAME} — bill", STYLES["Title"]),
            key_value_table(rows),
            Spacer(1, 8 * mm),
            Paragraph("Usage in the period", STYLES["Heading2"]),
            Table(lines, colWidths=[35 * mm, 80 * mm, 20 * mm, 30 * mm]),
            Spacer(1, 8 * mm),
            Paragraph(REPAY_NOTE, STYLES["Normal"]),
        ],
    )
