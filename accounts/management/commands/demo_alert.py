"""Send a demo customer across their alert threshold now, so the low-balance SMS can be shown
at any time (`make demo-alert`). For the local demo only (DEMO on).

The usage stream lasts days before alice's balance reaches her threshold, and an alert fires
at most once in 24 hours. This command does what would happen over those days, in the open:
if the balance is already below the threshold, an adjustment brings it back above (which
re-arms the alert, as a top-up would); the 24-hour limit is lifted for this account; then an
adjustment takes the balance just below the threshold (an adjustment, not usage, so the
runway in the alert text stays that of the usage stream). The worker sends the SMS and e-mail.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.models import Account, LedgerEntry
from money.formatting import format_money

MARGIN = Decimal("5.00")  # above the threshold after a refill, and below it after the charge


class Command(BaseCommand):
    help = "Take a demo customer's balance just below their alert threshold now (DEMO only)."

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", default="alice")

    def handle(self, *args, username, **options):
        if not settings.DEMO:
            raise CommandError("Only for the local demo (DEMO on): real balances cross their thresholds by usage.")
        user = get_user_model().objects.filter(username=username).select_related("account").first()
        if user is None or user.account is None:
            raise CommandError(f"{username} is not a customer with an account.")
        account = user.account
        if not account.alert_enabled or account.alert_threshold is None:
            raise CommandError(f"{username} has no expenditure alert on: set one on the Overview page first.")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
        threshold = account.alert_threshold_money
        with transaction.atomic():
            if account.balance < threshold + Money(MARGIN, account.billing_currency):
                refill = threshold + Money(MARGIN, account.billing_currency) - account.balance
                post_ledger_entry(
                    account_id=account.pk,
                    amount=refill,
                    kind=LedgerEntry.Kind.ADJUSTMENT,
                    source_ref=f"demo-alert:{account.pk}:{stamp}:refill",
                    description="Demo: back above the alert threshold (demo_alert)",
                )
            # The 24-hour limit would hold this alert back; the demo shows it now.
            Account.objects.filter(pk=account.pk).update(last_alert_at=None)
            account.refresh_from_db()
            post_ledger_entry(
                account_id=account.pk,
                amount=threshold - Money(MARGIN, account.billing_currency) - account.balance,
                kind=LedgerEntry.Kind.ADJUSTMENT,  # not usage: the alert's runway stays the stream's
                source_ref=f"demo-alert:{account.pk}:{stamp}:drop",
                description="Demo: taken below the alert threshold (demo_alert)",
            )
        account.refresh_from_db()
        self.stdout.write(
            f"{username}'s balance is now {format_money(account.balance)}, below the alert threshold of "
            f"{format_money(threshold)}. The worker sends the SMS and e-mail (its console prints them); "
            "they show under Alert history."
        )
