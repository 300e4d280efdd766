from django.core.management.base import BaseCommand, CommandError

from accounts.monthly_usage import usage_mismatches
from accounts.verification import ledger_mismatches, unbalanced_transfers


class Command(BaseCommand):
    help = (
        "Re-sum every account's ledger entries and compare with its balance, and check that every "
        "two-entry posting (a transfer, an enterprise allocation or reclaim) sums to zero, and that each account's "
        "monthly usage total equals its usage charges; exit 1 on any mismatch."
    )

    def handle(self, *args, **options):
        mismatches = ledger_mismatches()
        for account, total in mismatches:
            self.stderr.write(
                f"MISMATCH account {account.pk} ({account}): balance {account.balance}, entries sum to {total}"
            )
        unbalanced = unbalanced_transfers()
        for source, currency, total, entries in unbalanced:
            self.stderr.write(f"UNBALANCED posting {source}: {entries} entries sum to {total} {currency}, not zero")
        usage = usage_mismatches()
        for account_id, month, kept, summed in usage:
            self.stderr.write(
                f"USAGE account {account_id}, {month:%Y-%m}: the monthly total says {kept}, its charges sum to {summed}"
            )
        if mismatches or unbalanced or usage:
            raise CommandError(
                f"{len(mismatches)} account(s) do not match their ledger; "
                f"{len(unbalanced)} two-entry posting(s) do not sum to zero; "
                f"{len(usage)} monthly usage total(s) do not match their charges"
                + (" (manage.py recount_usage rebuilds them)." if usage else ".")
            )
        self.stdout.write(
            self.style.SUCCESS(
                "Ledger OK: every balance equals the sum of its entries, every two-entry posting sums to zero, "
                "and every monthly usage total equals its charges."
            )
        )
