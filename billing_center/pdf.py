"""The one look of our PDFs (receipts, bills, invoices): ReportLab platypus, A4, label/value tables.

Text Helvetica cannot draw is drawn in ReportLab's CID font STSong-Light, which covers
Simplified Chinese: an account named 北京云创科技有限公司, or a receipt in Chinese, would
otherwise print as black boxes (Helvetica has no CJK glyphs). Text Helvetica can draw keeps
Helvetica, so an English document looks as it always has. A CID font is not embedded; PDF
readers bring it (Adobe's Asian font packs, poppler's and browsers' substitutes), so a receipt
stays a few kilobytes and needs no font file of ours.
"""

from io import BytesIO

from django.conf import settings
from django.utils.html import escape
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

FONT = "STSong-Light"
LATIN, LATIN_BOLD = "Helvetica", "Helvetica-Bold"
# In memory only, like the style sheet below: no file is read.
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

# The sample styles in the CJK font, so that any flowable built from them (an invoice's title
# holding a Chinese merchant name, say) draws Chinese; CJK lines may break between characters.
STYLES = getSampleStyleSheet()
for _style in STYLES.byName.values():
    if hasattr(_style, "fontName"):
        _style.fontName = FONT
for _name in ("Normal", "Italic", "BodyText"):
    STYLES[_name].wordWrap = "CJK"
# The same styles in Helvetica, for text the standard fonts can draw (it looks as it always has).
LATIN_STYLES = getSampleStyleSheet()

GRID = colors.HexColor("#e2e7ee")


def is_latin(text: str) -> bool:
    """Whether Helvetica draws every character (its Windows-1252 encoding); else the CJK font."""
    try:
        str(text).encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def paragraph(text: str, style: str = "Normal") -> Paragraph:
    """A Paragraph of plain text (escaped): in Helvetica when it draws all of it, else in the CJK
    font with its runs of Latin text (a merchant's name in a Chinese title) set in Helvetica."""
    if is_latin(text):
        return Paragraph(escape(text), LATIN_STYLES[style])
    runs = (
        f'<font face="{LATIN}">{escape(run)}</font>' if latin and run.strip() else escape(run)
        for latin, run in _runs(text)
    )
    return Paragraph("".join(runs), STYLES[style])


def _runs(text: str):
    """(whether Helvetica draws it, run) for each longest run of the one kind or the other."""
    start = 0
    for end in range(1, len(text) + 1):
        if end == len(text) or is_latin(text[end]) != is_latin(text[start]):
            yield is_latin(text[start]), text[start:end]
            start = end


def table_style(rows, *commands, bold_first_column: bool = False) -> TableStyle:
    """The caller's commands, and each cell's font: Helvetica where it draws the text, else CJK."""
    fonts = []
    for y, row in enumerate(rows):
        for x, cell in enumerate(row):
            latin = LATIN_BOLD if bold_first_column and x == 0 else LATIN
            fonts.append(("FONT", (x, y), (x, y), latin if is_latin(cell) else FONT))
    return TableStyle([*fonts, *commands])


VALUE_WIDTH = 120 * mm
PADDING = 12  # a cell's left and right padding together, in points (ReportLab's default: 6 each)


def key_value_table(rows) -> Table:
    """Labels and values. A value wider than its column wraps inside it (a paragraph): a plain string never wraps,
    and a bank's long address had run off the page's edge (found by a helper)."""
    rows = [list(row) for row in rows]
    table = Table([[label, _wrapped(value)] for label, value in rows], colWidths=[45 * mm, VALUE_WIDTH])
    table.setStyle(
        table_style(
            rows,
            ("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor("#5f6b7a")),
            ("LINEBELOW", (0, 0), (-1, -1), 0.25, GRID),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            bold_first_column=True,
        )
    )
    return table


def _wrapped(value):
    text = str(value)
    font = LATIN if is_latin(text) else FONT
    return paragraph(text) if pdfmetrics.stringWidth(text, font, 10) > VALUE_WIDTH - PADDING else value


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
