"""PDF receipts for credited top-ups, drawn with ReportLab's platypus."""

from io import BytesIO

from django.conf import settings
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from accounts.formatting import format_money, format_rate

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
    return rows


def receipt_pdf(topup: TopUp) -> bytes:
    buffer = BytesIO()
    styles = getSampleStyleSheet()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Receipt {topup.reference}",
        author=settings.MERCHANT_NAME,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
    )
    table = Table([list(row) for row in receipt_rows(topup)], colWidths=[45 * mm, 120 * mm])
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (0, -1), "Helvetica-Bold"),
                ("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor("#5f6b7a")),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#e2e7ee")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    document.build(
        [
            Paragraph("Billing Center — payment receipt", styles["Title"]),
            Paragraph(f"{settings.MERCHANT_NAME} confirms this top-up was received and credited.", styles["Normal"]),
            Spacer(1, 8 * mm),
            table,
            Spacer(1, 10 * mm),
            Paragraph("Keep this receipt for your records. Amounts are in the currencies shown.", styles["Italic"]),
        ]
    )
    return buffer.getvalue()
