from django.core.management.base import BaseCommand, CommandError

from accounts.ledger import ledger_mismatches


class Command(BaseCommand):
    help = "Re-sum every account's ledger entries and compare with its balance; exit 1 on any mismatch."

    def handle(self, *args, **options):
        mismatches = ledger_mismatches()
        for account, total in mismatches:
            self.stderr.write(
                f"MISMATCH account {account.pk} ({account}): balance {account.balance}, entries sum to {total}"
            )
        if mismatches:
            raise CommandError(f"{len(mismatches)} account(s) do not match their ledger.")
        self.stdout.write(self.style.SUCCESS("Ledger OK: every balance equals the sum of its entries."))
