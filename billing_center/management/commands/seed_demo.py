from datetime import timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from accounts.enterprise import allocate, reclaim
from accounts.ledger import post_ledger_entry
from accounts.lifecycle import open_account
from accounts.models import Account, AlertRecipient, FundMove, LedgerEntry, User
from accounts.usage_api.charges import ChargeRequest, post_usage_charges
from bills.cycle import Period, close_account_period, finance_today, last_closed_period
from money.rates import FinanceRateSheetBackend
from tickets.models import Invoice, ReceivingAccount
from tickets.receiving_accounts import add_receiving_account, issue_invoice

# What finance may see and do in admin. Customers and plain staff have none of these.
FINANCE_PERMISSIONS = [
    "view_receivingaccount",
    "add_receivingaccount",
    "change_receivingaccount",
    "view_invoice",
    "add_invoice",
    "view_transferticket",
    "credit_transferticket",
    "review_transferticket",
    "view_statementfile",
    "import_statementfile",
    "view_statementline",
    "view_statementcsvformat",
    "add_statementcsvformat",
    "change_statementcsvformat",
    "view_account",
    "review_account",  # clears an account's needs-review flag (billing_center.review_flags), as for top-ups and refunds
    "view_ledgerentry",
    "view_fundmove",
    "view_user",
    "view_topup",
    "refund_topup",
    "review_topup",
    "view_refund",
    "review_refund",
    "view_dispute",
    "view_webhookdelivery",
    "view_calendarday",  # the holiday calendar the three-working-day deadline uses
    "add_calendarday",
    "change_calendarday",
    "delete_calendarday",
    "view_outboundemail",
    "view_outboundsms",  # the SMS log: numbers masked, confirmation codes hidden
    "view_balancealert",
    "view_ratesheet",
    "add_ratesheet",
    "change_ratesheet",
    "view_historicalrate",
    "view_rate",
    "add_rate",
    "change_rate",
    "delete_rate",
    "view_bill",
    "view_billline",
    "view_settlement",
    "view_postpaidaccount",
    "change_postpaidaccount",
]
# The demo rate sheet: units of each currency per US dollar.
DEMO_RATES = {"CNY": "7.1000", "EUR": "0.9200", "GBP": "0.7900", "JPY": "151.00"}
# Thirty days of made-up usage so the demo chart has a shape.
DAILY_USAGE = [Decimal(x) for x in "12.40 9.85 15.10 11.00 8.75 14.30 10.60 13.90 9.20 16.45".split()]


class Command(BaseCommand):
    help = "Create the demo users and accounts (alice, bob, carol, dave, finance, admin). Safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Run even with DEMO off.")

    @transaction.atomic
    def handle(self, *args, force=False, **options):
        if not settings.DEMO and not force:
            raise CommandError("Refusing to create demo users with DEMO off; pass --force if you mean it.")
        password = settings.DEMO_PASSWORD
        currency = settings.DEFAULT_CURRENCY

        alice_acct = self._account("Alice's Studio", Account.Type.PREPAID, currency)
        bob_acct = self._account("Bob's Shop", Account.Type.POSTPAID, currency)
        dave_acct = self._account("Dave's Enterprise", Account.Type.PREPAID, currency)
        carol_acct = self._account(
            "Carol (Dave's Enterprise)", Account.Type.ENTERPRISE_MEMBER, currency, master=dave_acct
        )

        self._user("alice", password, account=alice_acct, first_name="Alice", email="alice@example.com")
        self._user("bob", password, account=bob_acct, first_name="Bob", email="bob@example.com")
        self._user("carol", password, account=carol_acct, first_name="Carol", email="carol@example.com")
        self._user("dave", password, account=dave_acct, first_name="Dave", email="dave@example.com")
        finance = self._user("finance", password, is_staff=True, first_name="Fiona", email="finance@example.com")
        # A second clerk: credits above the maker-checker threshold need two people.
        finance2 = self._user("finance2", password, is_staff=True, first_name="Frank", email="finance2@example.com")
        self._user("admin", password, is_staff=True, is_superuser=True, email="admin@example.com")
        self._rate_sheet()

        group, _ = Group.objects.get_or_create(name=settings.FINANCE_GROUP)
        group.permissions.set(Permission.objects.filter(codename__in=FINANCE_PERMISSIONS))
        finance.groups.add(group)
        finance2.groups.add(group)
        self._bank_accounts_and_invoices(alice_acct)
        for staff in (finance, finance2, User.objects.get(username="admin")):
            # Admin needs a one-time code; demo devices get one, read with `manage.py demo_otp_code`.
            TOTPDevice.objects.get_or_create(user=staff, name="demo", defaults={"confirmed": True})

        # The dated postings (a month of usage, the enterprise's allocations) are gathered, then posted in
        # the order they are dated: each entry's balance after follows from the one before it on the statement.
        self._dated = []
        self._history(alice_acct, opening=Decimal("500.00"))
        self._history(dave_acct, opening=Decimal("2000.00"))
        self._enterprise(dave_acct, carol_acct, password)
        for _when, post in sorted(self._dated, key=lambda dated: dated[0]):
            post()
        self._postpaid_bills(bob_acct)
        self._alert(alice_acct, threshold=Decimal("150.00"), phone="+8613800138000", email="alice@example.com")

        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  Password for every demo user: {password}")
        self.stdout.write("  alice   prepaid customer (can top up); SMS alert below 150 USD, fired by simulate_usage")
        self.stdout.write("  bob     postpaid customer: last month's bill to repay, this month's usage unbilled")
        self.stdout.write("  carol   enterprise member of Dave's Enterprise (top-up refused); erin is another")
        self.stdout.write("  dave    prepaid enterprise master account: allocates funds to carol and erin")
        self.stdout.write("  finance finance staff (Django admin); finance2 is the second approver")
        self.stdout.write("  admin   superuser")
        self.stdout.write("  Admin also asks for a one-time code: .venv/bin/python manage.py demo_otp_code finance")

    def _rate_sheet(self):
        """Finance's sheet with today's demo rates, so paying in CNY works out of the box."""
        sheet, _ = ExchangeBackend.objects.get_or_create(
            name=FinanceRateSheetBackend.name, defaults={"base_currency": settings.DEFAULT_CURRENCY}
        )
        for currency, value in DEMO_RATES.items():
            Rate.objects.update_or_create(backend=sheet, currency=currency, defaults={"value": Decimal(value)})
        sheet.save()  # stamps last_update: the rates are as of now

    def _bank_accounts_and_invoices(self, account):
        """Receiving accounts (one retired, so old invoices show it) and two invoices for alice."""
        if ReceivingAccount.objects.exists():
            return
        today = timezone.localdate()
        old = add_receiving_account(
            account=ReceivingAccount(
                bank_name="DBS Bank Ltd",
                bank_address="12 Marina Boulevard, Singapore",
                account_name="Billing Center Cloud Ltd",
                account_number="0012345678",
                swift_bic="DBSSSGSG",
                currency="USD",
                region="International",
            ),
            now=timezone.now() - timedelta(days=90),
        )
        issue_invoice(
            invoice=Invoice(
                account=account,
                amount=Money("320.00", "USD"),
                issue_date=today - timedelta(days=60),
                description="Cloud services, two months ago",
                receiving_account=old,
            )
        )
        add_receiving_account(
            account=ReceivingAccount(
                bank_name="Commerzbank AG",
                bank_address="Kaiserplatz, 60311 Frankfurt am Main",
                account_name="Billing Center Cloud Ltd",
                iban="DE89370400440532013000",
                swift_bic="COBADEFF",
                currency="USD",
                region="International",
            )
        )
        add_receiving_account(
            account=ReceivingAccount(
                bank_name="Bank of China, Beijing Branch",
                bank_address="1 Fuxingmen Nei Dajie, Beijing",
                account_name="Billing Center Cloud (Beijing) Co., Ltd.",
                account_number="3456789012345678",
                swift_bic="BKCHCNBJ",
                currency="CNY",
                region="Mainland China",
            )
        )
        issue_invoice(
            invoice=Invoice(
                account=account,
                amount=Money("450.00", "USD"),
                issue_date=today - timedelta(days=2),
                description="Cloud services, last month",
            )
        )

    def _alert(self, account, *, threshold, phone, email):
        """alice's expenditure alert, with a confirmed number, so simulate_usage makes it fire."""
        if account.alert_recipients.exists():
            return
        Account.objects.filter(pk=account.pk).update(alert_enabled=True, alert_threshold=threshold, alert_armed=True)
        now = timezone.now()
        AlertRecipient.objects.create(account=account, kind=AlertRecipient.Kind.SMS, address=phone, confirmed_at=now)
        AlertRecipient.objects.create(account=account, kind=AlertRecipient.Kind.EMAIL, address=email, confirmed_at=now)

    def _enterprise(self, dave_acct, carol_acct, password):
        """A second member for dave (erin), and a month of allocations, a reclaim and members' usage."""
        erin_acct = self._account(
            "Erin (Dave's Enterprise)", Account.Type.ENTERPRISE_MEMBER, dave_acct.billing_currency, master=dave_acct
        )
        self._user("erin", password, account=erin_acct, first_name="Erin", email="erin@example.com")
        if FundMove.objects.filter(master=dave_acct).exists():
            return
        dave = User.objects.get(username="dave")
        now = timezone.now()
        currency = dave_acct.billing_currency
        moves = [  # (days ago, service, member, amount)
            (20, allocate, carol_acct, "400.00"),
            (20, allocate, erin_acct, "250.00"),
            (6, reclaim, carol_acct, "50.00"),
            (4, allocate, erin_acct, "100.00"),
        ]
        for step, (days_ago, service, member, amount) in enumerate(moves):
            when = now - timedelta(days=days_ago)
            self._dated.append(
                (
                    when,
                    partial(
                        service,
                        master_id=dave_acct.pk,
                        member_id=member.pk,
                        amount=Money(amount, currency),
                        actor=dave,
                        request_key=f"seed-demo-{step}",
                        now=when,
                    ),
                )
            )
        for days_ago in range(1, 4):  # members' own usage, charged to their funds
            for member, usage in ((carol_acct, "18.40"), (erin_acct, "61.25")):
                self._usage(
                    member,
                    Decimal(usage),
                    f"seed:{member.pk}:usage:{days_ago}",
                    now - timedelta(days=days_ago, hours=-3),
                )
        # erin has spent past this budget if the month is a few days old: dave's Overview flags it.
        Account.objects.filter(pk=erin_acct.pk).update(monthly_budget=Decimal("150.00"))

    def _account(self, name, type_, currency, master=None):
        existing = Account.objects.filter(name=name).first()
        if existing is not None:
            return existing
        return open_account(
            name=name, kind=type_, billing_currency=currency, enterprise_master_id=master.pk if master else None
        )

    def _user(self, username, password, account=None, **fields):
        user, created = User.objects.get_or_create(username=username, defaults={"account": account, **fields})
        if created:
            user.set_password(password)
            user.save()
        return user

    def _history(self, account, *, opening):
        if LedgerEntry.objects.filter(account=account).exists():
            return
        now = timezone.now()
        start = now - timedelta(days=29)
        opening_entry = partial(
            post_ledger_entry,
            account_id=account.pk,
            amount=Money(opening, account.billing_currency),
            kind=LedgerEntry.Kind.ADJUSTMENT,
            source_ref=f"seed:{account.pk}:opening",
            description="Opening balance (demo)",
            now=start,
        )
        self._dated.append((start, opening_entry))
        for day in range(1, 29):
            usage = DAILY_USAGE[day % len(DAILY_USAGE)]
            self._usage(account, usage, f"seed:{account.pk}:usage:{day}", start + timedelta(days=day, hours=6))

    def _usage(self, account, amount: Decimal, source_ref: str, when) -> None:
        """A day's usage charge, posted with the other dated postings (handle)."""
        charge = partial(
            post_ledger_entry,
            account_id=account.pk,
            amount=Money(-amount, account.billing_currency),
            kind=LedgerEntry.Kind.USAGE,
            source_ref=source_ref,
            description="Compute and storage usage (demo)",
            now=when,
        )
        self._dated.append((when, charge))

    def _postpaid_bills(self, account):
        """bob's usage: last month's closed into an issued bill, this month's still unbilled."""
        Account.objects.filter(pk=account.pk, credit_limit__isnull=True).update(credit_limit=Decimal("1000.00"))
        now = timezone.now()
        last = last_closed_period(now)
        current = Period.containing(finance_today(now))
        # A customer since before last month (opened now, postpaid from now): last month's usage is billed.
        Account.objects.filter(pk=account.pk, postpaid_since__gt=last.starts_at).update(postpaid_since=last.starts_at)
        usage = [
            (last, 3, "compute", "Compute instances", "86.40"),
            (last, 12, "compute", "Compute instances", "91.15"),
            (last, 20, "storage", "Block storage", "24.00"),
            (current, 1, "compute", "Compute instances", "18.60"),
        ]
        for n, (period, day, service, description, amount) in enumerate(usage):
            at = min(period.starts_at + timedelta(days=day - 1, hours=10), now - timedelta(minutes=5))
            at = max(at, period.starts_at)  # in the month's first minutes too: this month's usage stays unbilled
            charge = ChargeRequest(account.pk, Money(amount, account.billing_currency), f"demo-{n}", description)
            post_usage_charges(service=service, requests=[charge], now=at)
        close_account_period(account_id=account.pk, period=last, now=last.ends_at + timedelta(hours=1))
