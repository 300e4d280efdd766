"""CSV downloads that spreadsheets cannot turn into formulas."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

# A cell starting with one of these is read as a formula by Excel, LibreOffice and
# Google Sheets ("=HYPERLINK(...)"), so it is prefixed with a quote (OWASP's advice).
# Leading spaces are skipped by some of them, and full-width signs are folded to ASCII.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    if text.lstrip(" ").startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    # Negative amounts such as "-12.50" stay numbers; "-1+cmd|..." does not.
    body = text[1:] if text.startswith("-") else text
    return body.replace(".", "", 1).isdigit() and body.isascii()


class _Echo:
    def write(self, value):
        return value


def csv_response(filename: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_stream(csv.writer(_Echo()), header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _stream(writer, header, rows):
    yield "\ufeff"  # a BOM, so spreadsheets read the file as UTF-8
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([safe_cell(cell) for cell in row])
