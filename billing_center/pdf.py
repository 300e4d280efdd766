"""The one look of our PDFs (receipts, invoices): ReportLab platypus, A4, label/value tables."""

from io import BytesIO

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

STYLES = getSampleStyleSheet()


def key_value_table(rows) -> Table:
    table = Table([list(row) for row in rows], colWidths=[45 * mm, 120 * mm])
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
    return table


def build_pdf(title: str, flowables: list) -> bytes:
    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=title,
        author=settings.MERCHANT_NAME,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
    )
    document.build(flowables)
    return buffer.getvalue()
