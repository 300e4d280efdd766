"""The statement and the top-up records as CSV downloads, streamed in constant memory.

A metered account's statement holds millions of entries. The download walks the same keyset
order as the page (billing_center.keyset.walk): a short query per chunk of rows, each turned
into CSV lines and sent before the next is read. Nothing holds the whole file, and no
server-side cursor outlives a query (production's PgBouncer runs in transaction mode).
"""

from django.utils import translation
from django.utils.translation import pgettext_lazy

from billing_center.csv_export import csv_response
from billing_center.keyset import Cursor, Keyset, walk
from money.formatting import format_rate, plain_amount, plain_decimal

from .descriptions import entry_description
from .models import LedgerEntry

CHUNK = 1000  # rows per query: what memory holds at once

# A CSV's column headings: in English the column keys programs already read ("created_at"),
# in Chinese words for people; the data below them is never translated.
CSV_HEADINGS = {
    "created_at": pgettext_lazy("CSV column", "created_at"),
    "type": pgettext_lazy("CSV column", "type"),
    "description": pgettext_lazy("CSV column", "description"),
    "amount": pgettext_lazy("CSV column", "amount"),
    "balance_after": pgettext_lazy("CSV column", "balance_after"),
    "currency": pgettext_lazy("CSV column", "currency"),
    "source": pgettext_lazy("CSV column", "source"),
    "reference": pgettext_lazy("CSV column", "reference"),
    "method": pgettext_lazy("CSV column", "method"),
    "amount_paid": pgettext_lazy("CSV column", "amount_paid"),
    "paid_currency": pgettext_lazy("CSV column", "paid_currency"),
    "amount_credited": pgettext_lazy("CSV column", "amount_credited"),
    "billing_currency": pgettext_lazy("CSV column", "billing_currency"),
    "exchange_rate": pgettext_lazy("CSV column", "exchange_rate"),
    "status": pgettext_lazy("CSV column", "status"),
}
STATEMENT_COLUMNS = ("created_at", "type", "description", "amount", "balance_after", "currency", "source")
RECORD_COLUMNS = (
    "created_at", "reference", "method", "amount_paid", "paid_currency", "amount_credited", "billing_currency",
    "exchange_rate", "status",
)  # fmt: skip
# The entry's columns the statement's CSV reads, the keyset's (created_at, id) first and last.
_ENTRY_VALUES = (
    "created_at", "kind", "description", "description_parts", "amount", "amount_currency", "balance_after",
    "source_ref", "id",
)  # fmt: skip


def csv_header(*keys: str) -> list[str]:
    return [str(CSV_HEADINGS[key]) for key in keys]


def statement_csv(entries: Keyset, filename: str):
    """The statement's entries (the page's filters applied) as a streamed CSV."""
    kinds = {kind: str(label) for kind, label in LedgerEntry.Kind.choices}  # in the reader's language, now
    rows = Keyset(entries.queryset.values_list(*_ENTRY_VALUES), key=lambda row: Cursor(row[0], row[-1]))
    lines = (
        [
            created_at.isoformat(timespec="seconds"),
            kinds.get(kind, kind),
            entry_description(description, parts),  # in the reader's language, as on the page
            plain_decimal(amount, currency),
            plain_decimal(balance_after, currency),
            currency,
            source_ref,
        ]
        for created_at, kind, description, parts, amount, currency, balance_after, source_ref, _ in walk(
            rows, chunk=CHUNK
        )
    )
    return csv_response(filename, csv_header(*STATEMENT_COLUMNS), _in_language(lines, translation.get_language()))


def _in_language(lines, language: str | None):
    """The lines read in the language of the request that asked for them, however late they stream."""
    with translation.override(language):
        yield from lines


def records_csv(records, *, billing_currency: str, filename: str):
    """Top-up records (a Merged list of every source's) as a streamed CSV."""
    lines = (
        [
            r.created_at.isoformat(timespec="seconds"),
            r.reference,
            r.method,
            plain_amount(r.amount),
            str(r.amount.currency),
            plain_amount(r.credited) if r.credited else "",
            str(r.credited.currency) if r.credited else billing_currency,
            format_rate(r.exchange_rate) if r.exchange_rate else "",
            r.status_label,
        ]
        for r in walk(records, chunk=CHUNK // 2)
    )
    return csv_response(filename, csv_header(*RECORD_COLUMNS), lines)
