"""Refunds and disputes: what happens to a credited payment afterwards."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField
from djmoney.money import Money
from simple_history.models import HistoricalRecords

from accounts.descriptions import DISPUTE_REASONS
from accounts.review_notes import ReadsReviewNote

from .core import TopUp


class Refund(ReadsReviewNote, models.Model):
    """Money of a credited top-up paid back through its gateway, whole or in part.

    Finance asks for it in admin (the gateway first, under an idempotency key from this row),
    or it was made in the gateway's own dashboard and arrives only as a notification. Either
    way the balance is debited once, when the gateway says it succeeded: the row is locked
    while it is applied, and the ledger's unique source refund:<public_id> stands behind it.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        PENDING = "pending", _("Pending at the gateway")
        SUCCEEDED = "succeeded", _("Refunded")
        FAILED = "failed", _("Failed")

    class Origin(models.TextChoices):
        FINANCE = "finance", _("Finance, in admin")
        GATEWAY = "gateway", _("The gateway's dashboard")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    topup = models.ForeignKey(TopUp, verbose_name=_("top-up"), on_delete=models.PROTECT, related_name="refunds")
    gateway_refund_id = models.CharField(verbose_name=_("gateway refund id"), max_length=255, blank=True)
    # Paid back in the payment currency; its share of the credit in the billing currency, at the rate the top-up
    # locked (debit_amount). What came off the balance is its entry's (`debited`): less when the payment's
    # chargebacks took part of that share first.
    amount = MoneyField(
        verbose_name=_("amount"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    debit_amount = MoneyField(
        verbose_name=_("debit amount"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    status = models.CharField(verbose_name=_("status"), max_length=20, choices=Status.choices, default=Status.REQUESTED)
    origin = models.CharField(verbose_name=_("origin"), max_length=20, choices=Origin.choices, default=Origin.FINANCE)
    reason = models.TextField(verbose_name=_("reason"), blank=True)
    balance_override = models.BooleanField(
        verbose_name=_("balance override"),
        default=False,
        help_text=_("Finance allowed this refund to take the balance below zero."),
    )
    needs_review = models.BooleanField(verbose_name=_("needs review"), default=False)
    review_note = models.TextField(verbose_name=_("review note"), blank=True)  # why flagged, who reviewed: dated lines
    review_note_parts = models.JSONField(null=True, blank=True, editable=False)  # accounts.review_notes
    failure_reason = models.CharField(verbose_name=_("failure reason"), max_length=300, blank=True)
    # The refund form's one-time key: a double click or the form sent again finds this refund, never a second.
    request_key = models.CharField(verbose_name=_("request key"), max_length=64, blank=True, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    ledger_entry = models.OneToOneField(
        "accounts.LedgerEntry",
        verbose_name=_("ledger entry"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="refund",
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    succeeded_at = models.DateTimeField(verbose_name=_("succeeded at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name, verbose_name_plural = _("refund"), _("refunds")
        permissions = [("review_refund", "Can mark a flagged refund as reviewed")]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway_refund_id"], condition=~models.Q(gateway_refund_id=""), name="refund_once_per_id"
            ),
            models.UniqueConstraint(
                fields=["topup", "request_key"], condition=~models.Q(request_key=""), name="refund_once_per_form"
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_positive"),
            # A succeeded refund is debited at most once (the ledger's unique source); not at all when its payment's
            # chargebacks had taken its share first (topups.shares.refund_debit): no check that it has an entry.
        ]

    def __str__(self) -> str:
        return gettext("Refund %(reference)s of %(amount)s (%(status)s)") % {
            "reference": self.reference,
            "amount": self.amount,
            "status": self.get_status_display(),
        }

    @property
    def reference(self) -> str:
        return f"RF-{self.public_id.hex[:12].upper()}"

    @property
    def debited(self) -> Money:
        """What came off the balance: its entry's amount; nothing before it succeeded, or when its payment's
        chargebacks had taken its share first (topups.shares.refund_debit)."""
        if self.ledger_entry_id is None:
            return Money(0, self.debit_amount.currency)
        return -self.ledger_entry.amount

    @property
    def ledger_source_ref(self) -> str:
        return f"refund:{self.public_id}"

    @property
    def counts_against_payment(self) -> bool:
        """Requested, pending and succeeded refunds use up what can still be refunded."""
        return self.status != self.Status.FAILED


class Dispute(models.Model):
    """A cardholder's chargeback of a credited top-up.

    Opening it debits the disputed amount once; a dispute won returns it once; a lost one
    leaves it debited. An inquiry (the card issuer asks before it charges back) takes no money:
    it is flagged, and either closes or becomes a dispute. Events may arrive twice or out of
    order: the status only moves forward (inquiry, open, then won, lost or closed), and each
    posting has its own unique ledger source.
    """

    class Status(models.TextChoices):
        INQUIRY = "inquiry", _("Inquiry, no money taken")
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")
        CLOSED = "closed", _("Inquiry closed")

    topup = models.ForeignKey(TopUp, verbose_name=_("top-up"), on_delete=models.PROTECT, related_name="disputes")
    gateway_dispute_id = models.CharField(verbose_name=_("gateway dispute id"), max_length=255, unique=True)
    amount = MoneyField(
        verbose_name=_("amount"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    debit_amount = MoneyField(
        verbose_name=_("debit amount"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    status = models.CharField(verbose_name=_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    # The gateway's code ("fraudulent"), shown in the reader's words; an unknown code as it came.
    reason = models.CharField(
        verbose_name=_("reason"),
        max_length=100,
        blank=True,
        choices=[(code, _(words)) for code, words in DISPUTE_REASONS.items()],
    )
    debit_entry = models.OneToOneField(
        "accounts.LedgerEntry",
        verbose_name=_("debit entry"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dispute_debit",
    )
    return_entry = models.OneToOneField(
        "accounts.LedgerEntry",
        verbose_name=_("return entry"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dispute_return",
    )
    opened_at = models.DateTimeField(verbose_name=_("opened at"), auto_now_add=True)
    closed_at = models.DateTimeField(verbose_name=_("closed at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name, verbose_name_plural = _("dispute"), _("disputes")

    def __str__(self) -> str:
        return gettext("Dispute %(reference)s of %(amount)s (%(status)s)") % {
            "reference": self.gateway_dispute_id,
            "amount": self.amount,
            "status": self.get_status_display(),
        }
