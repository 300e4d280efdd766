"""Monthly bills of postpaid accounts, the usage charges each one holds, and what paid them.

A postpaid account spends first: its usage charges debit the balance below zero as they
arrive (accounts.usage_api). Each calendar month, in finance's time zone, bills.cycle closes
the month into one Bill per account. A charge lands in exactly one bill (BillCharge's unique
usage charge), and an account has one bill per period (unique account and period_start), so a
close repeated or raced makes nothing twice. Repayments are ledger credits (kind repayment);
bills.settlement spreads them over the bills as Settlements, oldest bill first.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField

from accounts.descriptions import entry_description
from accounts.models import Account


class Bill(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PARTLY_PAID = "partly_paid", _("Partly paid")
        PAID = "paid", _("Paid")
        OVERDUE = "overdue", _("Overdue")

    class Reminder(models.TextChoices):
        NONE = "", _("None sent")
        DUE_SOON = "due_soon", _("Due soon")
        OVERDUE = "overdue", _("Overdue")

    OUTSTANDING = (Status.OPEN, Status.PARTLY_PAID, Status.OVERDUE)

    account = models.ForeignKey(
        "accounts.Account", verbose_name=_("account"), on_delete=models.PROTECT, related_name="bills"
    )
    number = models.CharField(verbose_name=_("bill number"), max_length=30, unique=True)
    period_start = models.DateField(
        verbose_name=_("period start"), help_text=_("First day of the billed month, in finance's time zone.")
    )
    period_end = models.DateField(verbose_name=_("period end"), help_text=_("Last day of the billed month."))
    amount_due = MoneyField(
        verbose_name=_("amount due"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    # The sum of the bill's settlements, kept with them under the account's row lock.
    amount_paid = MoneyField(
        verbose_name=_("amount paid"),
        max_digits=18,
        decimal_places=2,
        default=0,
        default_currency=settings.DEFAULT_CURRENCY,
    )
    status = models.CharField(verbose_name=_("status"), max_length=12, choices=Status.choices, default=Status.OPEN)
    issued_at = models.DateTimeField(verbose_name=_("issued at"))
    due_on = models.DateField(verbose_name=_("due on"))
    paid_at = models.DateTimeField(verbose_name=_("paid at"), null=True, blank=True)
    # The last reminder sent to the customer (bills.reminders): each state is sent once.
    reminder = models.CharField(
        verbose_name=_("reminder"), max_length=10, choices=Reminder.choices, default=Reminder.NONE, blank=True
    )

    class Meta:
        ordering = ["-period_start", "-id"]
        verbose_name, verbose_name_plural = _("bill"), _("bills")
        constraints = [
            models.UniqueConstraint(fields=["account", "period_start"], name="bill_once_per_account_period"),
            models.CheckConstraint(condition=models.Q(amount_due__gt=0), name="bill_amount_due_positive"),
            models.CheckConstraint(
                condition=models.Q(amount_paid__gte=0, amount_paid__lte=models.F("amount_due")),
                name="bill_paid_within_due",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_on"], name="bill_status_due")]

    def __str__(self) -> str:
        return self.number

    @property
    def remaining(self):
        return self.amount_due - self.amount_paid

    @property
    def is_outstanding(self) -> bool:
        return self.status in self.OUTSTANDING


class PostpaidAccount(Account):
    """Postpaid accounts as finance manages them in admin: what they owe and their credit limit."""

    class Meta:
        proxy = True
        verbose_name, verbose_name_plural = _("postpaid account"), _("postpaid accounts")

    def __str__(self) -> str:
        return self.name


class BillLine(models.Model):
    """The bill's charges of one service and description, summed."""

    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines")
    service = models.CharField(verbose_name=_("service"), max_length=50)
    description = models.CharField(verbose_name=_("description"), max_length=300, blank=True)
    count = models.PositiveIntegerField(verbose_name=_("count"))
    total = MoneyField(
        verbose_name=_("total"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )

    class Meta:
        ordering = ["service", "description", "id"]
        verbose_name, verbose_name_plural = _("bill line"), _("bill lines")

    def __str__(self) -> str:
        return f"{self.bill}: {self.service} {self.total}"


class BillCharge(models.Model):
    """Which bill a usage charge is billed on: at most one, whatever runs the close."""

    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="charges")
    usage_charge = models.OneToOneField("accounts.UsageCharge", on_delete=models.PROTECT, related_name="bill_charge")

    def __str__(self) -> str:
        return f"{self.bill} ← charge {self.usage_charge_id}"


# The ledger source of a chargeback of a repayment (and, with ":won", of its return): what bills.settlement counts
# against the account's credit, beside its repayments.
REPAYMENT_CHARGEBACK = "repayment-dispute:"
# The ledger source of a repayment's bank transfer taken back after the bank returned it (and, with ":booked-again",
# of its credit when the bank books it again): counted against the account's credit too.
REPAYMENT_RETURN = "repayment-return:"


class Settlement(models.Model):
    """Part of the account's repaid money applied to one bill; negative, what a chargeback of it took back."""

    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="settlements")
    amount = MoneyField(
        verbose_name=_("amount"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    # What made it: the repayment's ledger source ("topup:<uuid>", "ticket:<id>") or the bill's
    # own issue ("bill:<id>"), when credit left from an earlier repayment pays a new bill.
    source_ref = models.CharField(verbose_name=_("source"), max_length=200)
    note = models.CharField(
        verbose_name=_("note"), max_length=300, blank=True, help_text=_("What paid, in words for the customer.")
    )
    # The note's message and arguments, shown in the reader's language (accounts.descriptions).
    note_parts = models.JSONField(verbose_name=_("note parts"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(verbose_name=_("created at"))

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name, verbose_name_plural = _("settlement"), _("settlements")
        # A chargeback of the repayment reverses a settlement with one of the opposite sign (bills.settlement).
        constraints = [models.CheckConstraint(condition=~models.Q(amount=0), name="settlement_not_zero")]

    def __str__(self) -> str:
        return f"{self.amount} → {self.bill}"

    @property
    def shown_note(self) -> str:
        """The note in the active language."""
        return entry_description(self.note, self.note_parts)
