"""Database helpers for the hot write paths (the ledger, usage charges)."""

from collections.abc import Callable
from functools import cache

from django.db import connection, models
from django.db.models import Model
from djmoney.models.fields import CurrencyField, MoneyField

ROWS_PER_STATEMENT = 500  # 10 columns × 500 rows stays far inside SQLite's 32,766 parameters


@cache
def _columns(model: type[Model]) -> tuple[tuple[str, ...], tuple[Callable[[Model], object], ...]]:
    """The model's columns (every concrete field but the primary key) and, per column, how to
    read an instance's value in database form. Derived once per model from its fields, so a new
    field is written without anyone editing a column list."""
    names, readers = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        names.append(field.column)
        attname = field.attname
        if isinstance(field, MoneyField):
            readers.append(lambda obj, a=attname: getattr(obj, a).amount)
        elif isinstance(field, CurrencyField):
            readers.append(lambda obj, a=attname: str(getattr(obj, a)))
        elif isinstance(field, models.DateTimeField):
            readers.append(lambda obj, a=attname: connection.ops.adapt_datetimefield_value(getattr(obj, a)))
        else:
            readers.append(lambda obj, a=attname: getattr(obj, a))
    return tuple(names), tuple(readers)


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
    names, readers = _columns(model)
    key_columns = [model._meta.get_field(name).column for name in key]
    key_readers = [readers[names.index(column)] for column in key_columns]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    one_row = "(" + ", ".join(["%s"] * len(names)) + ")"
    returning = ", ".join(quote(column) for column in [model._meta.pk.column, *key_columns])
    with connection.cursor() as cursor:
        for start in range(0, len(objects), ROWS_PER_STATEMENT):
            chunk = objects[start : start + ROWS_PER_STATEMENT]
            by_key = {tuple(read(instance) for read in key_readers): instance for instance in chunk}
            if len(by_key) != len(chunk):
                raise ValueError(f"Two new {model.__name__} rows share the key {key}.")
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(quote(n) for n in names)}) "
                f"VALUES {', '.join([one_row] * len(chunk))} RETURNING {returning}",
                [read(instance) for instance in chunk for read in readers],
            )
            for pk, *key_values in cursor.fetchall():
                instance = by_key[tuple(key_values)]
                instance.pk = pk
                instance._state.adding, instance._state.db = False, connection.alias
