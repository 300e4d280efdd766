"""Money comes in once per source, whatever its kind: a transfer credited as a postpaid line's repayment
cannot also be credited as a prepaid ticket's bank transfer. Built concurrently on PostgreSQL, so postings
go on meanwhile (docs/deploy.md). A ledger that already holds such a pair stops here, naming the source:
finance reverses one of the two, then the migration runs again."""

from django.db import migrations, models

from billing_center.migration_operations import AddUniqueConstraintOnline


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("accounts", "0022_review_note_parts"),
    ]

    operations = [
        AddUniqueConstraintOnline(
            model_name="ledgerentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind__in", ("online_topup", "bank_transfer", "dispute_won", "repayment"))),
                fields=("source_ref",),
                name="money_in_once_per_source",
            ),
        ),
    ]
