"""Accounts, their users and the ledger.

The ledger is the truth about money: every balance change is one immutable
LedgerEntry, and Account.balance is only a cache of their sum, written by
accounts.services.post_ledger_entry and nothing else. `verify_ledger` re-sums it.
"""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from djmoney.models.fields import MoneyField
from simple_history.models import HistoricalRecords


class Account(models.Model):
    class Type(models.TextChoices):
        PREPAID = "prepaid", "Prepaid"
        POSTPAID = "postpaid", "Postpaid"
        ENTERPRISE_MEMBER = "enterprise_member", "Enterprise member"

    name = models.CharField(max_length=200)
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.PREPAID)
    enterprise_master = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        help_text="The enterprise master account that funds a member account.",
    )
    # The currency of `balance` is the account's one billing currency.
    balance = MoneyField(max_digits=18, decimal_places=2, default=0, default_currency=settings.DEFAULT_CURRENCY)
    # My Account > Preferences: what the customer pays in online. Empty means the billing currency.
    payment_currency = models.CharField(max_length=3, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["balance"])

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(type="enterprise_member", enterprise_master__isnull=False)
                | (~models.Q(type="enterprise_member") & models.Q(enterprise_master__isnull=True)),
                name="account_member_has_master",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def billing_currency(self) -> str:
        return str(self.balance.currency)

    @property
    def pay_currency(self) -> str:
        """The currency online top-ups are paid in."""
        return self.payment_currency or self.billing_currency

    @property
    def can_top_up(self) -> bool:
        return self.type == self.Type.PREPAID

    @property
    def topup_refusal(self) -> str:
        """Why this account cannot top up, in words for its users; empty if it can."""
        if self.type == self.Type.POSTPAID:
            return (
                "Top-up is not supported for postpaid accounts: you use resources first and then "
                "pay your billed expenditure. Make a repayment against your bills instead."
            )
        if self.type == self.Type.ENTERPRISE_MEMBER:
            master = self.enterprise_master.name if self.enterprise_master_id else "your enterprise"
            return (
                "Top-up is not supported for enterprise member accounts. This account is funded "
                f"by its enterprise master account, {master}; ask its administrator for funds."
            )
        return ""


class User(AbstractUser):
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        help_text="The customer account this user acts for. Empty for staff.",
    )


class LedgerEntry(models.Model):
    """One immutable change of one account's balance. Corrections are new entries."""

    class Kind(models.TextChoices):
        ONLINE_TOPUP = "online_topup", "Online top-up"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        USAGE = "usage", "Usage charge"
        ADJUSTMENT = "adjustment", "Adjustment"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="ledger_entries")
    amount = MoneyField(max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # What caused the entry, e.g. "topup:<uuid>"; with `kind` unique, so a source
    # can move money at most once however often it is delivered.
    source_ref = models.CharField(max_length=200)
    description = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    balance_after = MoneyField(max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["kind", "source_ref"], name="ledger_entry_once_per_source"),
            models.CheckConstraint(condition=~models.Q(amount=0), name="ledger_entry_not_zero"),
        ]
        indexes = [models.Index(fields=["account", "-created_at", "-id"], name="ledger_account_recent")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} ({self.source_ref})"

    @property
    def is_credit(self) -> bool:
        return self.amount.amount > 0


class OutboundEmail(models.Model):
    """An e-mail to send, written in the same transaction as the change that causes it.

    A rollback leaves no row, so nothing is sent; a lost task leaves a PENDING row that
    `resend_pending_emails` picks up. `dedupe_key` makes each cause send once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    dedupe_key = models.CharField(max_length=200, unique=True)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="emails")
    to = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker took it to send.")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="email_status_age")]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to} ({self.status})"
