"""Migration operations for the big tables: online on PostgreSQL, plain on SQLite (`make run`).

docs/deploy.md's rule: no long lock on a table every payment writes. A plain CREATE INDEX on
the ledger blocks every posting until it is built; CONCURRENTLY lets them go on (the
migration needs `atomic = False`). SQLite has no such thing and needs none.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


def _online(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


class AddIndexOnline(AddIndexConcurrently):
    """CREATE INDEX CONCURRENTLY on PostgreSQL, CREATE INDEX elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        operation = super() if _online(schema_editor) else super(AddIndexConcurrently, self)
        operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        operation = super() if _online(schema_editor) else super(AddIndexConcurrently, self)
        operation.database_backwards(app_label, schema_editor, from_state, to_state)


class AddUniqueConstraintOnline(migrations.AddConstraint):
    """A UniqueConstraint with a condition (PostgreSQL builds it as a unique index): CREATE UNIQUE INDEX
    CONCURRENTLY on PostgreSQL, so postings go on while it is built; the plain statement elsewhere. A
    duplicate already in the table stops the build with the key it found; the half-built index is dropped."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if not _online(schema_editor):
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        statement = str(self.constraint.create_sql(model, schema_editor))
        assert statement.startswith("CREATE UNIQUE INDEX "), statement  # only a conditional unique constraint
        name = schema_editor.quote_name(self.constraint.name)
        try:
            schema_editor.execute(statement.replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX CONCURRENTLY ", 1))
        except Exception:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")  # an invalid index left behind
            raise

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if not _online(schema_editor):
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.constraint.name)}")


def drop_column_index(app_label: str, model_name: str, column: str) -> migrations.RunPython:
    """Drop the plain one-column index a ForeignKey had (db_index=True → False), DROP INDEX
    CONCURRENTLY on PostgreSQL; found by its column, whatever name Django gave it."""

    def indexes_on_column(schema_editor, model) -> list[str]:
        with schema_editor.connection.cursor() as cursor:
            found = schema_editor.connection.introspection.get_constraints(cursor, model._meta.db_table)
        return [
            name
            for name, about in found.items()
            if about["index"] and not about["unique"] and not about["primary_key"] and about["columns"] == [column]
        ]

    def forwards(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        for name in indexes_on_column(schema_editor, model):
            online = "CONCURRENTLY " if _online(schema_editor) else ""
            schema_editor.execute(f"DROP INDEX {online}IF EXISTS {schema_editor.quote_name(name)}")

    def backwards(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        table, quote = model._meta.db_table, schema_editor.quote_name
        online = "CONCURRENTLY " if _online(schema_editor) else ""
        restored = quote(f"{table}_{column}_restored")
        schema_editor.execute(f"CREATE INDEX {online}IF NOT EXISTS {restored} ON {quote(table)} ({quote(column)})")

    return migrations.RunPython(forwards, backwards)
