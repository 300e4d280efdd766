"""The statement filtered by type reads the ledger down (account, kind, -created_at, -id); the
account's own index goes, both composite indexes leading with it. Built and dropped
concurrently on PostgreSQL, so postings go on meanwhile (docs/deploy.md)."""

import django.db.models.deletion
from django.db import migrations, models

from billing_center.migration_operations import AddIndexOnline, drop_column_index


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("accounts", "0015_event_delivery_names"),
    ]

    operations = [
        AddIndexOnline(
            model_name="ledgerentry",
            index=models.Index(fields=["account", "kind", "-created_at", "-id"], name="ledger_account_kind_recent"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="ledgerentry",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ledger_entries",
                        to="accounts.account",
                        verbose_name="account",
                    ),
                ),
            ],
            database_operations=[drop_column_index("accounts", "ledgerentry", "account_id")],
        ),
    ]
