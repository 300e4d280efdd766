"""Database helpers for the hot write paths (the ledger, usage charges)."""

from collections.abc import Callable

from django.db import connection
from django.db.models import Model

ROWS_PER_STATEMENT = 500  # 10 columns × 500 rows stays far inside SQLite's 32,766 parameters


def insert_new(objects: list[Model], columns: tuple[str, ...], row: Callable[[Model], tuple]) -> None:
    """Insert unsaved instances of one model with INSERT … VALUES … RETURNING id, 500 per
    statement; each instance gets its id and counts as saved.

    bulk_create runs every field's preparation for every value, which for a batch of charges
    costs more than the database's own work. Here row(instance) gives the values already in
    database form: Decimal, str, int, None, and datetimes adapted by the caller with
    connection.ops.adapt_datetimefield_value. Like bulk_create, no signals are sent, and the
    ids are matched to the rows by position, as bulk_create also does: PostgreSQL and SQLite
    return a multi-row VALUES insert's rows in order (in practice; neither documents it).
    """
    if not objects:
        return
    quote = connection.ops.quote_name
    table, names = quote(objects[0]._meta.db_table), ", ".join(quote(column) for column in columns)
    one_row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(objects), ROWS_PER_STATEMENT):
            chunk = objects[start : start + ROWS_PER_STATEMENT]
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([one_row] * len(chunk))} RETURNING {quote('id')}",
                [value for instance in chunk for value in row(instance)],
            )
            for instance, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                instance.pk = pk
                instance._state.adding, instance._state.db = False, connection.alias
