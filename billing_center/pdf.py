"""The one look of our PDFs (receipts, bills, invoices): ReportLab platypus, A4, label/value tables.

Every piece of text is drawn in ReportLab's CID font STSong-Light, which covers Simplified
Chinese as well as Latin letters and digits: an account named 北京云创科技有限公司, or a
receipt in Chinese, would otherwise print as black boxes (Helvetica has no CJK glyphs). A CID
font is not embedded; every PDF reader ships it (Adobe's Asian font packs, poppler's
substitutes), so a receipt stays a few kilobytes and needs no font file of ours.
"""

from io import BytesIO

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

FONT = "STSong-Light"
# In memory only, like the style sheet below: no file is read.
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

STYLES = getSampleStyleSheet()
for _style in STYLES.byName.values():
    if hasattr(_style, "fontName"):
        _style.fontName = FONT
# CJK lines may break between any two characters, not only at spaces.
for _name in ("Normal", "Italic", "BodyText"):
    STYLES[_name].wordWrap = "CJK"

GRID = colors.HexColor("#e2e7ee")


def table_style(*commands) -> TableStyle:
    """Every cell in the CJK-capable font, plus the caller's commands."""
    return TableStyle([("FONT", (0, 0), (-1, -1), FONT), *commands])


def key_value_table(rows) -> Table:
    table = Table([list(row) for row in rows], colWidths=[45 * mm, 120 * mm])
    table.setStyle(
        table_style(
            ("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor("#5f6b7a")),
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, GRID),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
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
