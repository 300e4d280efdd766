"""A metering service for the demo: the prepaid demo accounts run a few cloud resources at
hourly prices, and each metering window is charged through the usage-charge service.

The prices add up to 0.50 an hour (12.00 a day) per account, about what the seeded history
spent, so a balance lasts days and the runway in the alert text ("about 12 days left") is
true for this stream. To show the alert on demand, `manage.py demo_alert alice`.

Each window's charge is keyed by the window (`demo:<account>:<resource>:<window start>`), so a
restarted simulator never charges a window twice, and a window's amount is the cents the
running total reaches at its end minus those it had reached at its start: no fraction of a
cent is lost to rounding, however short the windows.
"""

import time
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal

from django.core.management.base import BaseCommand
from django.utils import timezone
from djmoney.money import Money

from accounts.models import Account
from accounts.usage_api.charges import ChargeRequest, post_usage_charges

# Hourly prices, in the account's billing currency (a demo: one price list for every currency).
HOURLY_PRICES = {
    "ecs.c6.large": Decimal("0.17"),
    "rds.mysql.2u4g": Decimal("0.21"),
    "cdn.traffic": Decimal("0.06"),
    "elb.shared": Decimal("0.03"),
    "evs.ssd.100g": Decimal("0.02"),
    "obs.standard": Decimal("0.01"),
}
CENT = Decimal("0.01")


def cents_by(price: Decimal, seconds: int) -> Decimal:
    """What `seconds` of a resource cost since the epoch, in whole cents (rounded down)."""
    return (price * seconds / 3600).quantize(CENT, rounding=ROUND_DOWN)


def window_charges(account: Account, *, start: int, end: int, scale: Decimal) -> list[ChargeRequest]:
    """The account's charges for the metering window [start, end) (epoch seconds)."""
    stamp = datetime.fromtimestamp(start, UTC).strftime("%Y%m%dT%H%M%S")
    charges = []
    for resource, price in HOURLY_PRICES.items():
        amount = cents_by(price * scale, end) - cents_by(price * scale, start)
        if amount > 0:
            charges.append(
                ChargeRequest(
                    account_id=account.pk,
                    amount=Money(amount, account.billing_currency),
                    idempotency_key=f"demo:{account.pk}:{resource}:{stamp}",
                    description=f"{resource} usage",
                )
            )
    return charges


class Command(BaseCommand):
    help = "Charge the prepaid demo accounts for their resources, window by window (Ctrl-C stops it)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=int, default=300, help="Seconds in a metering window (default 300).")
        parser.add_argument("--rounds", type=int, default=0, help="Stop after this many windows (0: never).")
        parser.add_argument("--scale", type=Decimal, default=Decimal("1"), help="Multiply every price by this.")

    def handle(self, *args, every, rounds, scale, **options):
        done = 0
        end = int(timezone.now().timestamp()) // every * every  # the last whole window before now
        while rounds == 0 or done < rounds:
            start, end = end, end + every
            wait = end - timezone.now().timestamp()
            if wait > 0:
                time.sleep(wait)
            accounts = Account.objects.filter(type=Account.Type.PREPAID).order_by("pk")
            requests = [
                charge for account in accounts for charge in window_charges(account, start=start, end=end, scale=scale)
            ]
            results = post_usage_charges(service="demo-metering", requests=requests) if requests else []
            created = sum(r.outcome == "created" for r in results)
            self.stdout.write(f"window ending {datetime.fromtimestamp(end, UTC):%H:%M:%S} UTC: {created} charges")
            done += 1
