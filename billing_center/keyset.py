"""Keyset pages: "← Newer" and "Older →" from where a page stops, never a COUNT or an OFFSET.

The lists a customer reads grow without end: a metered account's statement gains thousands of
entries a day. A Paginator counts every row for "page 7 of 40,000", and reads page n with an
OFFSET that walks every row before it; both grow with the history. Here a list is read newest
first down its (owner, -time, -id) index, from where the last page stopped: the (time, id) of
its last row, the cursor. The database reads one page and one row more (to know whether an
older page exists), at any depth. Rows with equal times (a batch of charges posted at once) are
ordered by id, so walking older and back newer never shows a row twice or skips one.

Several lists can be read as one (Top-up records: online top-ups, tickets, statement credits),
each with its tag; their rows are ordered by (time, tag, id) and the cursor names the tag too.
The cursor travels in the query string, ?older=t<µs since 1970>.<id> (or .<tag>.<id>; d<day
number> for a list by date, n<number> by a number), or ?newer=…; one that does not parse, or
is not for this list, is the newest page, as an unknown page number was.

Downloads walk the same order in chunks (`walk`), each a short query of its own: constant
memory, and no server-side cursor (PgBouncer in transaction mode would lose it between them).
"""

import heapq
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from django.db.models import BooleanField, DateField, DateTimeField, F, Func, Q, Value

from money.parsing import LARGEST_ID, is_digits

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
_TAG = re.compile(r"[a-z_]{1,30}", re.ASCII)
# Query parameters a page link replaces; the others (filters) are kept on the links.
CURSOR_PARAMETERS = ("older", "newer", "page", "format")


@dataclass(frozen=True)
class Cursor:
    """Where a row sits in its list: its time (a datetime, a date or a number), its tag (merged
    lists only) and its id."""

    at: datetime | date | int
    pk: int
    tag: str = ""

    @property
    def order(self) -> tuple:
        return (self.at, self.tag, self.pk)

    def __str__(self) -> str:
        if isinstance(self.at, datetime):
            position = f"t{(self.at - EPOCH) // MICROSECOND}"
        elif isinstance(self.at, date):
            position = f"d{self.at.toordinal()}"
        else:
            position = f"n{self.at}"
        return ".".join([position, self.tag, str(self.pk)] if self.tag else [position, str(self.pk)])

    @classmethod
    def parse(cls, text) -> "Cursor | None":
        """The cursor a link carried, or None for anything that is not one."""
        parts = text.split(".") if isinstance(text, str) else []
        if len(parts) not in (2, 3):
            return None
        (position, *tag, pk) = parts
        kind, digits = position[:1], position[1:]
        if kind not in _READ or not is_digits(digits, max_length=19) or not is_digits(pk, max_length=19):
            return None
        if (tag and not _TAG.fullmatch(tag[0])) or not 0 < int(pk) <= LARGEST_ID or int(digits) > LARGEST_ID:
            return None
        try:
            return cls(_READ[kind](int(digits)), int(pk), tag[0] if tag else "")
        except (OverflowError, ValueError):  # beyond the calendar
            return None


# How each kind of position reads back: t<µs since 1970>, d<day number>, n<number>.
_READ = {
    "t": lambda number: EPOCH + number * MICROSECOND,
    "d": date.fromordinal,
    "n": lambda number: number,
}


class RowCompare(Func):
    """`(a, b) < (x, y)`: a row comparison, which PostgreSQL and SQLite both serve as a range
    of an index on (…, a, b) — where `a < x OR (a = x AND b < y)` would not be."""

    output_field = BooleanField()

    def __init__(self, left: tuple, operator: str, right: tuple):
        if operator not in ("<", ">"):
            raise ValueError(f"RowCompare takes < or >, not {operator!r}")
        self.operator, self.width = operator, len(left)
        super().__init__(*left, *right)

    def as_sql(self, compiler, connection, **extra_context):
        compiled = [compiler.compile(expression) for expression in self.get_source_expressions()]
        left = ", ".join(sql for sql, _ in compiled[: self.width])
        right = ", ".join(sql for sql, _ in compiled[self.width :])
        return f"({left}) {self.operator} ({right})", [param for _, params in compiled for param in params]


class Keyset:
    """One list read by (time, id), newest first: an owner-scoped queryset and its order.

    `convert` turns each row shown into what the page shows (rows stay rows without it), after
    the rows of a page are chosen; `key` gives a row's Cursor (by default its time and id
    attributes, with the tag; a values_list's rows need their own).
    """

    def __init__(
        self,
        queryset,
        *,
        time: str = "created_at",
        pk: str = "id",
        tag: str = "",
        convert: Callable | None = None,
        key: Callable[[object], Cursor] | None = None,
    ):
        self.queryset, self.time, self.pk, self.tag = queryset, time, pk, tag
        self.convert = convert
        self.key = key or (lambda row: Cursor(getattr(row, time), getattr(row, pk), tag))
        self.time_field = queryset.query.resolve_ref(time).output_field

    def accepts(self, cursor: Cursor) -> bool:
        """Whether the cursor can be a row of this list (a forged one of another kind is not)."""
        if isinstance(self.time_field, DateTimeField):
            return isinstance(cursor.at, datetime)
        if isinstance(self.time_field, DateField):
            return type(cursor.at) is date
        return isinstance(cursor.at, int)

    def beyond(self, cursor: Cursor, *, older: bool):
        """This list's rows older (or newer) than the cursor, in the order (time, tag, id)."""
        at = Value(cursor.at, output_field=self.time_field)
        if self.tag == cursor.tag:
            return RowCompare((F(self.time), F(self.pk)), "<" if older else ">", (at, Value(cursor.pk)))
        # Another list's cursor: rows at its very time fall before or after it by their tag.
        with_equal = (self.tag < cursor.tag) == older
        lookup = ("lte" if with_equal else "lt") if older else ("gte" if with_equal else "gt")
        return Q(**{f"{self.time}__{lookup}": cursor.at})

    def rows(self, cursor: Cursor | None, *, older: bool, limit: int) -> list:
        """Up to `limit` rows from the cursor on (from the newest without one): newest first
        when reading older, oldest first when reading newer."""
        rows = self.queryset
        if cursor is not None:
            rows = rows.filter(self.beyond(cursor, older=older))
        order = (f"-{self.time}", f"-{self.pk}") if older else (self.time, self.pk)
        return list(rows.order_by(*order)[:limit])

    def present(self, rows: list) -> list:
        return [self.convert(row) for row in rows] if self.convert else rows


class Merged:
    """Several Keysets read as one list, ordered by (time, tag, id): one query per list. Its
    rows are (part, row) pairs until they are presented."""

    def __init__(self, parts: list[Keyset]):
        self.parts = parts

    def key(self, item) -> Cursor:
        part, row = item
        return part.key(row)

    def accepts(self, cursor: Cursor) -> bool:
        return all(part.accepts(cursor) for part in self.parts)

    def rows(self, cursor: Cursor | None, *, older: bool, limit: int) -> list:
        streams = [[(part, row) for row in part.rows(cursor, older=older, limit=limit)] for part in self.parts]
        merged = heapq.merge(*streams, key=lambda item: self.key(item).order, reverse=older)
        return [item for _, item in zip(range(limit), merged, strict=False)]

    def present(self, items: list) -> list:
        return [part.convert(row) if part.convert else row for part, row in items]


@dataclass
class KeysetPage:
    """One page of a keyset list, and the links to the pages beside it."""

    object_list: list
    older: Cursor | None  # the last row's cursor, when older rows exist
    newer: Cursor | None  # the first row's cursor, when this is not the newest page
    query: str  # the filters, kept on the links

    @property
    def has_other_pages(self) -> bool:
        return self.older is not None or self.newer is not None

    def _link(self, name: str, cursor: Cursor) -> str:
        return "?" + "&".join(filter(None, [self.query, urlencode({name: str(cursor)})]))

    @property
    def older_link(self) -> str:
        return self._link("older", self.older) if self.older else ""

    @property
    def newer_link(self) -> str:
        return self._link("newer", self.newer) if self.newer else ""

    @property
    def newest_link(self) -> str:
        return "?" + self.query


def kept_query(query) -> str:
    """The query string without the cursor: the filters a page's links keep."""
    kept = query.copy()
    for name in CURSOR_PARAMETERS:
        kept.pop(name, None)
    return kept.urlencode()


def keyset_page(source, query, *, size: int) -> KeysetPage:
    """The page the query string asks for (?older=, ?newer=, or the newest), of `size` rows.

    `source` is a Keyset or a Merged. Reading newer up to the newest rows answers the newest
    page whole, so the pages a reader walks back to are the ones they walked through."""
    kept = kept_query(query)
    older_cursor, newer_cursor = (Cursor.parse(query.get(name)) for name in ("older", "newer"))
    older_cursor, newer_cursor = (
        c if c is not None and source.accepts(c) else None for c in (older_cursor, newer_cursor)
    )
    if newer_cursor is not None and older_cursor is None:
        rows = source.rows(newer_cursor, older=False, limit=size + 1)
        if len(rows) > size:
            rows = rows[:size][::-1]
            return KeysetPage(source.present(rows), source.key(rows[-1]), source.key(rows[0]), kept)
    rows = source.rows(older_cursor, older=True, limit=size + 1) if older_cursor else []
    if not rows:  # the newest page (also for a cursor past the oldest row: nothing is there)
        older_cursor = None
        rows = source.rows(None, older=True, limit=size + 1)
    has_older, rows = len(rows) > size, rows[:size]
    return KeysetPage(
        source.present(rows),
        older=source.key(rows[-1]) if has_older else None,
        newer=source.key(rows[0]) if older_cursor and rows else None,
        query=kept,
    )


def walk(source, *, chunk: int = 1000) -> Iterator:
    """Every row of the list, newest first, read `chunk` rows per query from the last one's
    cursor: memory holds one chunk, whatever the list's length."""
    cursor = None
    while True:
        rows = source.rows(cursor, older=True, limit=chunk)
        yield from source.present(rows)
        if len(rows) < chunk:
            return
        cursor = source.key(rows[-1])
