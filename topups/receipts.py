"""PDF receipts for credited top-ups, drawn with ReportLab's platypus."""

from django.conf import settings
from django.utils import timezone
from djmoney.money import Money
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer

from billing_center.pdf import STYLES, build_pdf, key_value_table
from money.formatting import format_money, format_rate

from .models import TopUp


def receipt_rows(topup: TopUp) -> list[tuple[str, str]]:
    """The receipt's lines, shared by the HTML page and the PDF."""
    when = "%Y-%m-%d %H:%M %Z"
    rows = [
        ("Receipt for", topup.reference),
        ("Account", topup.account.name),
        ("Method", topup.method),
        ("Amount paid", format_money(topup.amount)),
        ("Amount credited", format_money(topup.credit_amount)),
    ]
    if topup.is_converted:
        rows.append(
            (
                "Exchange rate",
                f"1 {topup.credit_amount.currency} = {format_rate(topup.exchange_rate)} {topup.amount.currency} "
                f"({topup.rate_source_label}, as of {timezone.localtime(topup.rate_as_of):{when}})",
            )
        )
    rows += [
        ("Started", f"{timezone.localtime(topup.created_at):{when}}"),
        ("Credited", f"{timezone.localtime(topup.credited_at):{when}}"),
        ("Balance after", format_money(topup.ledger_entry.balance_after)),
        ("Our reference", str(topup.public_id)),
    ]
    refunds = list(topup.refunds.filter(status="succeeded").order_by("succeeded_at", "id"))
    for refund in refunds:
        rows.append(
            (
                f"Refunded {timezone.localtime(refund.succeeded_at):{when}}",
                f"{format_money(refund.amount)} ({refund.reference}; "
                f"−{format_money(refund.debit_amount)} from the balance)",
            )
        )
    if refunds:
        net = topup.credit_amount - sum((r.debit_amount for r in refunds), Money(0, topup.credit_amount.currency))
        rows.append(("Net credited", format_money(net)))
    return rows


def receipt_pdf(topup: TopUp) -> bytes:
    return build_pdf(
        f"Receipt {topup.reference}",
        [
            Paragraph("Billing Center — payment receipt", STYLES["Title"]),
            Paragraph(f"{settings.MERCHANT_NAME} confirms this top-up was received and credited.", STYLES["Normal"]),
            Spacer(1, 8 * mm),
            key_value_table(receipt_rows(topup)),
            Spacer(1, 10 * mm),
            Paragraph("Keep this receipt for your records. Amounts are in the currencies shown.", STYLES["Italic"]),
        ],
    )
