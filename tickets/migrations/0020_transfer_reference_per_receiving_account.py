"""A transfer is named by the receiving account it reached and its reference there: two banks of ours may give
two transfers one reference, and each ticket is confirmed and credited. The new constraint is built
concurrently on PostgreSQL before the global one is dropped, so a second ticket for one line is refused
throughout (docs/deploy.md)."""

from django.db import migrations, models

from billing_center.migration_operations import AddUniqueConstraintOnline


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("tickets", "0019_reference_keys"),
    ]

    operations = [
        AddUniqueConstraintOnline(
            model_name="transferticket",
            constraint=models.UniqueConstraint(
                condition=models.Q(("confirmed_bank_reference", ""), _negated=True),
                fields=("receiving_account", "confirmed_bank_reference"),
                name="ticket_statement_line_once_per_bank",
            ),
        ),
        migrations.RemoveConstraint(model_name="transferticket", name="ticket_statement_line_once"),
    ]
