from django.core.management.base import BaseCommand

from accounts.monthly_usage import recount_usage, usage_mismatches


class Command(BaseCommand):
    help = (
        "Rebuild each account's monthly usage totals from the ledger: once after the release that "
        "brings them in has reached every node, and after FINANCE_TIME_ZONE changes. Safe while "
        "charges are posted: each chunk of accounts is locked as the ledger writer locks them."
    )

    def handle(self, *args, **options):
        wrong = len(usage_mismatches())
        written = recount_usage()
        self.stdout.write(
            self.style.SUCCESS(f"Recounted {written} monthly usage total(s); {wrong} had differed from the ledger.")
        )
