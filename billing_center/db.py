"""Database helpers for the hot write paths (the ledger, usage charges)."""

from functools import cache
from operator import attrgetter

from django.db import connection, models
from django.db.models import Model
from djmoney.models.fields import CurrencyField, MoneyField

ROWS_PER_STATEMENT = 500  # 10 columns × 500 rows stays far inside SQLite's 32,766 parameters


@cache
def _plan(model: type[Model]):
    """The model's columns (every concrete field but the primary key), one getter for all their
    values, and which of them need turning into database form. Derived once per model from its
    fields, so a new field is written without anyone editing a column list."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    money = tuple(i for i, f in enumerate(fields) if isinstance(f, MoneyField))
    currency = tuple(i for i, f in enumerate(fields) if isinstance(f, CurrencyField))
    moments = tuple(i for i, f in enumerate(fields) if isinstance(f, models.DateTimeField))
    return tuple(f.column for f in fields), attrgetter(*(f.attname for f in fields)), money, currency, moments


def _rows(objects: list[Model]) -> list[list]:
    """Each instance's values in database form: Money as its amount, currencies as codes,
    datetimes adapted (once per distinct value: a batch shares its time)."""
    _, values_of, money, currency, moments = _plan(type(objects[0]))
    adapted: dict = {}
    adapt = connection.ops.adapt_datetimefield_value
    rows = []
    for instance in objects:
        row = list(values_of(instance))
        for i in money:
            row[i] = row[i].amount
        for i in currency:
            row[i] = str(row[i])
        for i in moments:
            value = row[i]
            if value not in adapted:
                adapted[value] = adapt(value)
            row[i] = adapted[value]
        rows.append(row)
    return rows


def insert_new(objects: list[Model], *, key: tuple[str, ...]) -> None:
    """Insert unsaved instances of one model with INSERT … VALUES … RETURNING, 500 per
    statement; each instance gets its id and counts as saved.

    bulk_create runs every field's full preparation for every value, which for a batch of
    charges costs more than the database's own work; here each column's value is read in
    database form by a reader derived once from the model. The returned ids are matched to
    the instances by `key`, the columns of one of the model's unique constraints (neither
    PostgreSQL nor SQLite promises to return a multi-row insert's rows in order). Like
    bulk_create, no signals are sent and defaults must already be on the instances.
    """
    if not objects:
        return
    model = type(objects[0])
    names = _plan(model)[0]
    key_at = [names.index(model._meta.get_field(name).column) for name in key]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    one_row = "(" + ", ".join(["%s"] * len(names)) + ")"
    returning = ", ".join(quote(column) for column in [model._meta.pk.column, *(names[i] for i in key_at)])
    rows = _rows(objects)
    with connection.cursor() as cursor:
        for start in range(0, len(objects), ROWS_PER_STATEMENT):
            chunk, chunk_rows = objects[start : start + ROWS_PER_STATEMENT], rows[start : start + ROWS_PER_STATEMENT]
            by_key = {tuple(row[i] for i in key_at): instance for row, instance in zip(chunk_rows, chunk, strict=True)}
            if len(by_key) != len(chunk):
                raise ValueError(f"Two new {model.__name__} rows share the key {key}.")
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(quote(n) for n in names)}) "
                f"VALUES {', '.join([one_row] * len(chunk))} RETURNING {returning}",
                [value for row in chunk_rows for value in row],
            )
            for pk, *key_values in cursor.fetchall():
                instance = by_key[tuple(key_values)]
                instance.pk = pk
                instance._state.adding, instance._state.db = False, connection.alias


def update_in_bulk(objects: list[Model], fields: list[str]) -> None:
    """Write `fields` of saved instances of one model: on PostgreSQL one
    UPDATE … FROM (VALUES …) per 500 rows, elsewhere one prepared UPDATE run for every row.

    Django's bulk_update builds a CASE expression per row and field; for a statement's 10,000
    lines that costs seconds of Python before the database does anything. Like bulk_update,
    no signals are sent."""
    if not objects:
        return
    model = type(objects[0])
    targets = [model._meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    rows = [
        [*(field.get_db_prep_save(getattr(instance, field.attname), connection) for field in targets), instance.pk]
        for instance in objects
    ]
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            assignments = ", ".join(f"{quote(field.column)} = %s" for field in targets)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", rows)
            return
        # Text stays untyped (its column checks the length); every other value is cast to its column's type.
        casts = [
            "%s" if field.get_internal_type() in ("CharField", "TextField") else f"%s::{field.db_type(connection)}"
            for field in [*targets, model._meta.pk]
        ]
        names = [f"c{i}" for i in range(len(targets))]
        assignments = ", ".join(f"{quote(field.column)} = v.{name}" for field, name in zip(targets, names, strict=True))
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            values = ", ".join(["(" + ", ".join(casts) + ")"] * len(chunk))
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} FROM (VALUES {values}) AS v({', '.join(names)}, id) "
                f"WHERE t.{pk} = v.id",
                [value for row in chunk for value in row],
            )
