from django.core.management.base import BaseCommand, CommandError

from accounts.verification import ledger_mismatches, unbalanced_transfers


class Command(BaseCommand):
    help = (
        "Re-sum every account's ledger entries and compare with its balance, and check that every "
        "two-entry posting (a transfer, an enterprise allocation or reclaim) sums to zero; exit 1 on any mismatch."
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
        if mismatches or unbalanced:
            raise CommandError(
                f"{len(mismatches)} account(s) do not match their ledger; "
                f"{len(unbalanced)} two-entry posting(s) do not sum to zero."
            )
        self.stdout.write(
            self.style.SUCCESS(
                "Ledger OK: every balance equals the sum of its entries, and every two-entry posting sums to zero."
            )
        )
