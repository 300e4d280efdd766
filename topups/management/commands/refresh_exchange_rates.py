from django.core.management.base import BaseCommand

from money.rates import refresh_rates


class Command(BaseCommand):
    help = "Pull exchange rates from the configured backend now (beat does it hourly)."

    def handle(self, *args, **options):
        self.stdout.write(f"Rates refreshed from {refresh_rates()}.")
