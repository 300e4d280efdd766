"""A metering service for the demo: hourly-style usage charges for the demo accounts, so
balances fall and low-balance alerts fire while `make run` is up."""

import random
import time
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.utils import timezone
from djmoney.money import Money

from accounts.models import Account
from accounts.usage_api.charges import ChargeRequest, post_usage_charges

RESOURCES = ["ecs.c6.large", "evs.ssd.100g", "obs.standard", "elb.shared", "rds.mysql.2u4g", "cdn.traffic"]


class Command(BaseCommand):
    help = "Post a stream of usage charges to the prepaid demo accounts (Ctrl-C stops it)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=15.0, help="Seconds between rounds.")
        parser.add_argument("--rounds", type=int, default=0, help="Stop after this many rounds (0: run until stopped).")
        parser.add_argument("--scale", type=Decimal, default=Decimal("1"), help="Multiply every charge by this.")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args, every, rounds, scale, seed, **options):
        rng = random.Random(seed)
        done = 0
        while rounds == 0 or done < rounds:
            done += 1
            accounts = list(Account.objects.filter(type=Account.Type.PREPAID).order_by("pk"))
            stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
            requests = [
                ChargeRequest(
                    account_id=account.pk,
                    amount=Money(
                        (Decimal(rng.randint(20, 400)) / 100 * scale).quantize(Decimal("0.01")),
                        account.billing_currency,
                    ),
                    idempotency_key=f"demo:{stamp}:{done}:{account.pk}:{resource}",
                    description=f"{resource} usage",
                )
                for account in accounts
                for resource in rng.sample(RESOURCES, k=2)
            ]
            results = post_usage_charges(service="demo-metering", requests=requests)
            created = sum(r.outcome == "created" for r in results)
            self.stdout.write(f"round {done}: {created} charges posted to {len(accounts)} accounts")
            if rounds == 0 or done < rounds:
                time.sleep(every)
