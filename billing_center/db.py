"""Database helpers for the hot write paths (the ledger, usage charges, statement lines).

On PostgreSQL each statement passes one array per column (`unnest(%s::bigint[], …)`), so its
text is short and the same for any number of rows: psycopg 3 parses the placeholders of a query
once and remembers it, which it does not for long statements, and splitting a 1,000-row
`VALUES` list in Python had cost a third of a batch of charges. SQLite, which has no arrays,
gets multi-row VALUES for inserts and one prepared UPDATE per row.
"""

import json
import re
from datetime import date
from decimal import Decimal
from functools import cache
from operator import itemgetter
from types import NoneType
from uuid import UUID

from django.db import connection, models
from django.db.models import Model
from djmoney.models.fields import CurrencyField, MoneyField
from djmoney.money import Money

ROWS_PER_STATEMENT = 500  # SQLite: 10 columns × 500 rows stays far inside its 32,766 parameters
ROWS_PER_ARRAY = 10_000  # PostgreSQL: one array per column, this many elements each
PRECISION = re.compile(r"\s*\(.*\)")  # numeric(18, 2) -> numeric
PLAIN = (str, int, Decimal, date, UUID)  # their str() is what PostgreSQL reads back (bool is an int, datetime a date)
TEXT_TYPES = {"CharField", "TextField", "SlugField", "EmailField", "URLField"}


@cache
def _fields(model: type[Model], attnames: tuple[str, ...] | None = None) -> tuple:
    """The fields a write fills, in order: every concrete field but the primary key, or those
    named by attname ("account_id", and a Money field's amount and "<name>_currency" apart)."""
    if attnames is None:
        return tuple(field for field in model._meta.concrete_fields if not field.primary_key)
    by_attname = {field.attname: field for field in model._meta.concrete_fields}
    return tuple(by_attname[name] for name in attnames)


@cache
def _plan(model: type[Model], attnames: tuple[str, ...] | None = None):
    """The fields written (_fields), one getter for all their values (read from an instance's
    __dict__, where each field keeps its value under its attname: djmoney's descriptor would
    build a Money on every read), and which of them need turning into database form. Derived
    once per model from its fields, so a new field is written without anyone editing a column
    list."""
    fields = _fields(model, attnames)
    money = tuple(i for i, f in enumerate(fields) if isinstance(f, MoneyField))
    currency = tuple(i for i, f in enumerate(fields) if isinstance(f, CurrencyField))
    moments = tuple(i for i, f in enumerate(fields) if isinstance(f, models.DateTimeField))
    days = tuple(i for i, f in enumerate(fields) if type(f) is models.DateField)
    texts = tuple((i, f.encoder) for i, f in enumerate(fields) if isinstance(f, models.JSONField))
    getter = itemgetter(*(f.attname for f in fields))
    return fields, getter, money, currency, moments, days, texts


@cache
def _arrays(fields: tuple) -> str:
    """The array placeholders of these fields' columns, in their order (PostgreSQL)."""
    return ", ".join(_array(field) for field in fields)


def _array(field) -> str:
    """The placeholder of one column's array on PostgreSQL (see placeholder)."""
    return placeholder(field) + "[]"


def placeholder(field) -> str:
    """A typed placeholder for one value of `field` on PostgreSQL, where a value in a SELECT list
    has no column to take its type from. Text goes as text and numbers without their precision,
    so that storing the value checks the column as storing it plainly would (a cast to
    varchar(20) would cut a longer text short)."""
    if field.get_internal_type() in TEXT_TYPES:
        return "%s::text"
    return "%s::" + PRECISION.sub("", field.db_type(connection))


def row_of(instance: Model) -> dict[str, object]:
    """An unsaved instance's values in database form, by column: what insert_new writes."""
    return dict(zip((field.column for field in _fields(type(instance))), _rows([instance])[0], strict=True))


def mark_saved(instance: Model, pk: int) -> None:
    """Give an instance written by plain SQL its id; it then counts as saved, as after save()."""
    instance.pk = pk
    instance._state.adding, instance._state.db = False, connection.alias


def _rows(objects: list[Model]) -> list[list]:
    """Each instance's values (every field _plan writes) in database form (_adapt)."""
    plan = _plan(type(objects[0]))
    values_of = plan[1]
    return _adapt(plan, [list(values_of(instance.__dict__)) for instance in objects])


def _adapt(plan, rows: list[list]) -> list[list]:
    """Put the rows' values in database form, in place: amounts as Decimal (djmoney keeps a
    Decimal, or a Money once the field was read), currencies as codes, JSON as its text (None
    stays NULL; dumped once per distinct object), dates and datetimes adapted (datetimes once
    per distinct value: a batch shares its time)."""
    _, _, money, currency, moments, days, texts = plan
    adapted: dict = {}
    dumped: dict = {}
    adapt, adapt_day = connection.ops.adapt_datetimefield_value, connection.ops.adapt_datefield_value
    for row in rows:
        for i in money:
            if isinstance(row[i], Money):
                row[i] = row[i].amount
        for i in currency:
            row[i] = str(row[i])
        for i in moments:
            value = row[i]
            if value not in adapted:
                adapted[value] = adapt(value)
            row[i] = adapted[value]
        for i in days:
            row[i] = adapt_day(row[i])
        for i, encoder in texts:
            if row[i] is not None:  # a batch often shares one value (a charge's default description)
                key = (i, id(row[i]))
                if key not in dumped:
                    dumped[key] = (row[i], json.dumps(row[i], cls=encoder))  # the value kept: its id stays its own
                row[i] = dumped[key][1]
    return rows


def _columns(rows: list[list]) -> list:
    """The rows as one parameter per column, for `%s::type[]` (PostgreSQL)."""
    return [_array_text(column) for column in zip(*rows, strict=True)]


def _array_text(values) -> str | list:
    """One column in PostgreSQL's array syntax, every element quoted ({"1","x \\"y\\""},
    NULL bare). psycopg 3 adapts a Python list element by element in Python, about twenty
    times slower than this; a column of values of any other kind is left to it. A column without
    NULLs is joined and escaped as one string (NUL, which no PostgreSQL text holds, marks the
    joins); one with NULLs, or a NUL of its own, is quoted element by element."""
    kinds = set(map(type, values))
    if not all(kind is NoneType or issubclass(kind, PLAIN) for kind in kinds):
        return list(values)
    if NoneType not in kinds:
        text = "\x00".join(map(str, values))
        if text.count("\x00") == len(values) - 1:
            return '{"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", '","') + '"}'
    return (
        "{"
        + ",".join(
            "NULL" if value is None else '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for value in values
        )
        + "}"
    )


def insert_new(objects: list[Model], *, key: tuple[str, ...]) -> None:
    """Insert unsaved instances of one model and give each its id; each then counts as saved.

    bulk_create runs every field's full preparation for every value, which for a batch of
    charges costs more than the database's own work; here each column's value is read in
    database form by a reader derived once from the model. The returned ids are matched to
    the instances by `key`, the fields of one of the model's unique constraints (neither
    PostgreSQL nor SQLite promises to return a multi-row insert's rows in order). Like
    bulk_create, no signals are sent and defaults must already be on the instances.
    """
    if not objects:
        return
    model = type(objects[0])
    fields = _fields(model)
    key_at = [fields.index(model._meta.get_field(name)) for name in key]
    for instance, pk in zip(objects, _insert_returning(fields, _rows(objects), key_at), strict=True):
        mark_saved(instance, pk)


def insert_rows(model: type[Model], attnames: tuple[str, ...], rows: list, *, key: tuple[str, ...]) -> list[int]:
    """Insert rows of plain values, no model instances, and return their new ids in the rows' order.

    Each row holds the values of the fields named in `attnames` ("account_id"; a Money field's
    amount and its "<name>_currency" apart), turned into database form as insert_new's are.
    `key` names, among them, the fields of one of the model's unique constraints, by which the
    ids are matched to the rows. A field left out is NULL or its database default: Django's
    defaults are not applied, and no signals are sent.
    """
    if not rows:
        return []
    plan = _plan(model, attnames)
    return _insert_returning(plan[0], _adapt(plan, [list(row) for row in rows]), [attnames.index(k) for k in key])


def _insert_returning(fields: tuple, rows: list[list], key_at: list[int]) -> list[int]:
    """Insert rows in database form into `fields`; their ids, in order, matched by the key's values."""
    model = fields[0].model
    quote = connection.ops.quote_name
    returning = ", ".join(quote(column) for column in [model._meta.pk.column, *(fields[i].column for i in key_at)])
    into = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
    size = ROWS_PER_ARRAY if connection.vendor == "postgresql" else ROWS_PER_STATEMENT
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            at = {tuple(row[i] for i in key_at): n for n, row in enumerate(chunk)}
            if len(at) != len(chunk):
                raise ValueError(f"Two new {model.__name__} rows share their key.")
            cursor.execute(*_insert(into, fields, f"RETURNING {returning}", chunk))
            chunk_ids = [0] * len(chunk)
            for pk, *key_values in cursor.fetchall():
                chunk_ids[at[tuple(key_values)]] = pk
            ids += chunk_ids
    return ids


def insert_missing(objects: list[Model]) -> int:
    """Insert the unsaved instances of one model that no unique constraint finds already there
    (INSERT … ON CONFLICT DO NOTHING, as bulk_create(ignore_conflicts=True) but without its
    per-value preparation); how many were new. The instances are not given ids."""
    if not objects:
        return 0
    model = type(objects[0])
    quote = connection.ops.quote_name
    fields = _fields(model)
    into = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
    size = ROWS_PER_ARRAY if connection.vendor == "postgresql" else ROWS_PER_STATEMENT
    rows, inserted = _rows(objects), 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            cursor.execute(*_insert(into, fields, "ON CONFLICT DO NOTHING", rows[start : start + size]))
            inserted += cursor.rowcount
    return inserted


def add_rows(model: type[Model], attnames: tuple[str, ...], rows: list, *, key: tuple[str, ...], add: str) -> None:
    """Running totals: insert rows of plain values (as insert_rows takes them), and where a row with
    the same `key` (the fields of one of the model's unique constraints) is there already, add the
    new row's `add` field to it instead (INSERT … ON CONFLICT … DO UPDATE). No two rows may share
    their key: one statement cannot update a row twice."""
    if not rows:
        return
    plan = _plan(model, attnames)
    quote, meta = connection.ops.quote_name, model._meta
    table, total = quote(meta.db_table), quote(meta.get_field(add).column)
    into = f"INSERT INTO {table} ({', '.join(quote(field.column) for field in plan[0])}) "
    conflict = ", ".join(quote(meta.get_field(name).column) for name in key)
    added = f"{table}.{total} + excluded.{total}"
    places = getattr(meta.get_field(add), "decimal_places", None)
    if places is not None:  # SQLite adds decimals in floating point: rounded, the sum is what PostgreSQL keeps
        added = f"ROUND({added}, {places})"
    tail = f"ON CONFLICT ({conflict}) DO UPDATE SET {total} = {added}"
    rows = _adapt(plan, [list(row) for row in rows])
    size = ROWS_PER_ARRAY if connection.vendor == "postgresql" else ROWS_PER_STATEMENT
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            cursor.execute(*_insert(into, plan[0], tail, rows[start : start + size]))


def _insert(into: str, fields: tuple, tail: str, rows: list[list]) -> tuple[str, list]:
    """One INSERT of `rows`: arrays on PostgreSQL, a multi-row VALUES elsewhere."""
    if connection.vendor == "postgresql":
        return f"{into}SELECT * FROM unnest({_arrays(fields)}) {tail}", _columns(rows)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return f"{into}VALUES {', '.join([one_row] * len(rows))} {tail}", [value for row in rows for value in row]


def update_in_bulk(objects: list[Model], fields: list[str]) -> None:
    """Write `fields` of saved instances of one model (see update_rows).

    Django's bulk_update builds a CASE expression per row and field; for a statement's 10,000
    lines that costs seconds of Python before the database does anything. Like bulk_update,
    no signals are sent."""
    if not objects:
        return
    targets = [type(objects[0])._meta.get_field(name) for name in fields]
    steps = [(field.attname, _preparer(field)) for field in targets]
    update_rows(
        type(objects[0]),
        fields,
        [[*(to_db(getattr(instance, attname)) for attname, to_db in steps), instance.pk] for instance in objects],
    )


def _preparer(field):
    """One field's value in database form: a foreign key's id as it is, a datetime adapted once
    per distinct value (a batch's lines share their time), anything else as Django prepares it."""
    if isinstance(field, models.ForeignKey):
        return lambda value: value
    if isinstance(field, models.DateTimeField):
        adapted: dict = {}

        def moment(value):
            if value not in adapted:
                adapted[value] = field.get_db_prep_save(value, connection)
            return adapted[value]

        return moment
    return lambda value: field.get_db_prep_save(value, connection)


def update_rows(model: type[Model], fields: list[str], rows: list) -> None:
    """Set `fields` of existing rows of `model`: each row is the fields' values in database
    form followed by the primary key. On PostgreSQL one UPDATE … FROM unnest(…) per 10,000
    rows; elsewhere one prepared UPDATE run for every row."""
    if not rows:
        return
    targets = [model._meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            assignments = ", ".join(f"{quote(field.column)} = %s" for field in targets)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", rows)
            return
        arrays = ", ".join(_array(field) for field in [*targets, model._meta.pk])
        names = [f"c{i}" for i in range(len(targets))]
        assignments = ", ".join(f"{quote(field.column)} = v.{name}" for field, name in zip(targets, names, strict=True))
        for start in range(0, len(rows), ROWS_PER_ARRAY):
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} FROM unnest({arrays}) AS v({', '.join(names)}, id) "
                f"WHERE t.{pk} = v.id",
                _columns(rows[start : start + ROWS_PER_ARRAY]),
            )


def transaction_locks(names: list[str]) -> None:
    """Hold a lock named for each of `names` until the caller's transaction ends (PostgreSQL's
    pg_advisory_xact_lock, which PgBouncer's transaction pooling allows), taken in sorted order in one statement:
    two transactions that share a name run one after the other. SQLite runs one writer at a time already."""
    if not connection.in_atomic_block:
        raise RuntimeError("transaction_locks needs a transaction: the locks end with it.")
    if names and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(name, 0)) "
                "FROM (SELECT DISTINCT name FROM unnest(%s::text[]) AS name ORDER BY name) AS names",
                [sorted(set(names))],
            )
