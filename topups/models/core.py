"""Online top-ups, the raw gateway deliveries that announce them, and the sandbox
gateway's own sessions."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.models.fields import MoneyField
from simple_history import register
from simple_history.models import HistoricalRecords

from accounts.models import LedgerEntry
from accounts.review_notes import ReadsReviewNote
from money.formatting import format_rate
from money.rates import source_label


class TopUp(ReadsReviewNote, models.Model):
    """One attempt to pay money into an account through a payment gateway.

    Credited at most once: the row is locked while it is credited, and the ledger's
    unique (kind, source_ref="topup:<public_id>") refuses a second entry behind it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting payment")
        CREDITED = "credited", _("Credited")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    class Purpose(models.TextChoices):
        TOPUP = "topup", _("Top-up")
        REPAYMENT = "repayment", _("Repayment")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(
        "accounts.Account", verbose_name=_("account"), on_delete=models.PROTECT, related_name="topups"
    )
    # A repayment (postpaid) is paid the same way and credited as a repayment that settles
    # bills: the ones chosen here first (bills.settlement).
    purpose = models.CharField(verbose_name=_("purpose"), max_length=10, choices=Purpose.choices, default=Purpose.TOPUP)
    bills = models.ManyToManyField("bills.Bill", verbose_name=_("bills"), blank=True, related_name="online_repayments")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, related_name="+"
    )
    gateway = models.CharField(verbose_name=_("gateway"), max_length=20)
    # What the customer pays, in the payment currency ...
    amount = MoneyField(
        verbose_name=_("amount"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    # ... and what the account receives, in its billing currency.
    credit_amount = MoneyField(
        verbose_name=_("credit amount"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    # The rate locked when the top-up started, when amount and credit_amount differ in
    # currency: exchange_rate payment-currency units bought one billing unit.
    exchange_rate = models.DecimalField(
        verbose_name=_("exchange rate"), max_digits=24, decimal_places=12, null=True, blank=True
    )
    rate_source = models.CharField(verbose_name=_("rate source"), max_length=100, blank=True)
    rate_as_of = models.DateTimeField(verbose_name=_("rate as of"), null=True, blank=True)
    status = models.CharField(verbose_name=_("status"), max_length=20, choices=Status.choices, default=Status.PENDING)
    gateway_session_id = models.CharField(verbose_name=_("gateway session id"), max_length=255, blank=True)
    # The provider's ids of the payment itself, kept from its notifications: refunds and
    # disputes made in the provider's dashboard name only these.
    payment_intent_id = models.CharField(verbose_name=_("payment intent id"), max_length=255, blank=True, db_index=True)
    charge_id = models.CharField(verbose_name=_("charge id"), max_length=255, blank=True, db_index=True)
    # The Pay form's one-time token: a double click or a resubmitted form finds the
    # top-up its first submission created instead of opening a second checkout.
    request_key = models.CharField(verbose_name=_("request key"), max_length=64, blank=True)
    # Started by auto top-up for one crossing below its threshold (request_key "auto:<n>").
    is_automatic = models.BooleanField(verbose_name=_("is automatic"), default=False)
    checkout_url = models.TextField(verbose_name=_("checkout URL"), blank=True)
    failure_reason = models.CharField(verbose_name=_("failure reason"), max_length=300, blank=True)
    # A verified notification that disagrees with this row (amount, currency, owner)
    # credits nothing and is left here for finance to look at.
    needs_review = models.BooleanField(verbose_name=_("needs review"), default=False)
    review_note = models.TextField(verbose_name=_("review note"), blank=True)
    review_note_parts = models.JSONField(null=True, blank=True, editable=False)  # accounts.review_notes
    ledger_entry = models.OneToOneField(
        "accounts.LedgerEntry",
        verbose_name=_("ledger entry"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="topup",
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    credited_at = models.DateTimeField(verbose_name=_("credited at"), null=True, blank=True)
    closed_at = models.DateTimeField(
        verbose_name=_("closed at"), null=True, blank=True, help_text=_("When it failed, was cancelled or expired.")
    )
    last_checked_at = models.DateTimeField(
        verbose_name=_("last checked at"), null=True, blank=True, help_text=_("Last reconciliation with the gateway.")
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name, verbose_name_plural = _("top-up"), _("top-ups")
        permissions = [
            ("refund_topup", "Can refund a credited top-up through its gateway"),
            ("review_topup", "Can mark a flagged top-up as reviewed"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "gateway_session_id"],
                condition=~models.Q(gateway_session_id=""),
                name="topup_unique_gateway_session",
            ),
            models.UniqueConstraint(
                fields=["account", "request_key"],
                condition=~models.Q(request_key=""),
                name="topup_unique_request_key",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="topup_amount_positive"),
            models.CheckConstraint(condition=models.Q(credit_amount__gt=0), name="topup_credit_positive"),
            models.CheckConstraint(
                condition=~models.Q(status="credited") | models.Q(ledger_entry__isnull=False),
                name="topup_credited_has_entry",
            ),
        ]
        indexes = [
            # The records page's order (newest first, id breaking ties), so a page reads its rows only.
            models.Index(fields=["account", "-created_at", "-id"], name="topup_account_recent"),
            models.Index(fields=["status", "created_at"], name="topup_status_age"),
        ]

    def __str__(self) -> str:
        return gettext("Top-up %(reference)s (%(amount)s, %(status)s)") % {
            "reference": self.reference,
            "amount": self.amount,
            "status": self.get_status_display(),
        }

    @property
    def reference(self) -> str:
        """The short reference customers and finance quote."""
        return f"TU-{self.public_id.hex[:12].upper()}"

    @property
    def is_repayment(self) -> bool:
        """Started as a repayment of bills (what it is credited as is repays_bills)."""
        return self.purpose == self.Purpose.REPAYMENT

    @property
    def repays_bills(self) -> bool:
        """Whether it repays bills: credited as a repayment (its account was postpaid as it was credited:
        bills.settlement.credit_payment), whatever it was started as; before it is credited, what it was started as.
        A top-up paid late on an account turned postpaid had been refundable while its credit paid bills (found by
        a helper)."""
        if self.ledger_entry_id is None:
            return self.is_repayment
        return self.ledger_entry.kind == LedgerEntry.Kind.REPAYMENT

    @property
    def method(self) -> str:
        if self.is_repayment:
            return gettext("Online repayment")
        return gettext("Auto top-up (saved card)") if self.is_automatic else gettext("Online payment")

    @property
    def gateway_label(self) -> str:
        """What the gateway's payment page names this payment, in the payer's language as the checkout
        opens: it had read 'Top-up of account Bob's Shop', in English, for a postpaid repayment too."""
        values = {"reference": self.reference, "account": self.account.name}
        if self.is_repayment:
            return gettext("Online repayment %(reference)s, %(account)s") % values  # TU-… is the payment, no bill
        return gettext("Top-up %(reference)s, %(account)s") % values

    @property
    def rate_source_label(self) -> str:
        return source_label(self.rate_source)

    @property
    def is_converted(self) -> bool:
        return self.exchange_rate is not None

    @property
    def ledger_source_ref(self) -> str:
        return f"topup:{self.public_id}"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING

    def checkout_open(self, now) -> bool:
        """Whether the customer can still pay on the gateway's page."""
        ttl = timedelta(minutes=settings.TOPUP_CHECKOUT_TTL_MINUTES)
        return self.is_pending and bool(self.checkout_url) and now < self.created_at + ttl


class WebhookDelivery(models.Model):
    """A gateway notification as it arrived, with what we made of it.

    Unique per (gateway, event id): a redelivered event bumps `delivery_count` and
    moves no money. Deliveries we could not verify have no trusted event id and are
    kept (truncated) for investigation.
    """

    class Verdict(models.TextChoices):
        RECEIVED = "received", _("Received, not processed yet")
        CREDITED = "credited", _("Credited the top-up")
        ALREADY_CREDITED = "already_credited", _("Top-up was already credited")
        CLOSED = "closed", _("Closed the top-up")
        IGNORED = "ignored", _("Nothing to do")
        FLAGGED = "flagged", _("Mismatch, flagged for finance")
        REFUNDED = "refunded", _("Refund applied to the balance")
        DISPUTED = "disputed", _("Dispute applied to the balance")
        UPDATED = "updated", _("Refund or dispute status updated")
        ALREADY_APPLIED = "already_applied", _("Already applied")
        REJECTED = "rejected", _("Rejected: not verified")
        ERROR = "error", _("Processing failed, will be retried")

    gateway = models.CharField(_("gateway"), max_length=20)
    event_id = models.CharField(_("event id"), max_length=255, null=True, blank=True)
    event_type = models.CharField(_("event type"), max_length=100, blank=True)
    topup = models.ForeignKey(
        TopUp, verbose_name=_("top-up"), null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries"
    )
    body = models.TextField(_("body"))
    signature = models.CharField(_("signature"), max_length=1000, blank=True)
    verdict = models.CharField(_("verdict"), max_length=20, choices=Verdict.choices, default=Verdict.RECEIVED)
    error = models.TextField(_("error"), blank=True)
    delivery_count = models.PositiveIntegerField(_("times delivered"), default=1)
    # The same event id came again with another body: never applied, kept apart from `error`, which a worker's
    # success clears (the note had been lost that way). A default in the database: intake inserts with raw SQL.
    body_changed = models.BooleanField(_("redelivered with a different body"), default=False, db_default=False)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    last_received_at = models.DateTimeField(_("last received at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name, verbose_name_plural = _("webhook delivery"), _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "event_id"],
                condition=models.Q(event_id__isnull=False),
                name="webhook_delivery_once_per_event",
            ),
        ]
        indexes = [
            models.Index(fields=["verdict", "-received_at"], name="webhook_verdict_recent"),
            # What the workers claim, oldest first (topups.batches): only the waiting rows.
            models.Index(fields=["id"], condition=models.Q(verdict="received"), name="webhook_delivery_waiting"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.event_type or 'unverified'} {self.event_id or ''}".strip()


class SandboxCheckout(models.Model):
    """The sandbox gateway's own record of a hosted payment session.

    This is the fake provider's database, not ours: TopUp never reads it directly,
    only through the sandbox gateway's notifications and fetch_payment().
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PAID = "paid", _("Paid")
        DECLINED = "declined", _("Declined")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    class Mode(models.TextChoices):
        PAYMENT = "payment", _("Payment")
        SETUP = "setup", _("Save a card")

    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.PAYMENT)
    session_id = models.CharField(max_length=64, unique=True)
    reference = models.CharField(max_length=64, help_text=_("The merchant's reference: our top-up public id."))
    # Setup sessions: the card the payer saved, and whether the sandbox makes it decline later.
    card_declines = models.BooleanField(default=False)
    account_ref = models.CharField(max_length=64)
    description = models.CharField(max_length=200)
    amount = MoneyField(max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    success_url = models.TextField()
    cancel_url = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Sandbox session {self.session_id} ({self.status})"

    def is_payable(self, now) -> bool:
        return self.status == self.Status.OPEN and now < self.expires_at


class RateSheet(ExchangeBackend):
    """django-money's exchange backend, as finance calls it in the admin."""

    class Meta:
        proxy = True
        verbose_name, verbose_name_plural = _("exchange-rate sheet"), _("exchange-rate sheets")


# Every change to a rate sheet and its rates is kept, with who made it: a quote names
# its source and time, and finance must be able to show what the rate was then.
for model, name, plural in (
    (ExchangeBackend, _("historical exchange backend"), _("historical exchange backends")),
    (Rate, _("historical rate"), _("historical rates")),
):
    table = f"topups_historical{model._meta.model_name}"
    register(model, app="topups", table_name=table, verbose_name=name, verbose_name_plural=plural)
HistoricalRate = Rate.history.model
HistoricalExchangeBackend = ExchangeBackend.history.model
# The proxy has no history manager of its own: the sheet's History page reads its concrete model's.
RateSheet._meta.simple_history_manager_attribute = ExchangeBackend._meta.simple_history_manager_attribute

# django-money names its fields without translatable labels, and simple-history its own: the
# historical copies are ours (this app), so they carry labels in the reader's language. The rate
# sheet's own form and list have theirs in topups.admin.
HISTORY_LABELS = {
    "name": _("name"),
    "base_currency": _("base currency"),
    "last_update": _("last update"),
    "backend": _("rate sheet"),
    "currency": _("currency"),
    "value": _("rate"),
    "history_id": _("change number"),
    "history_date": _("changed at"),
    "history_type": _("type of change"),
    "history_user": _("changed by"),
    "history_change_reason": _("reason for the change"),
}
for historical in (HistoricalExchangeBackend, HistoricalRate):
    for field in historical._meta.concrete_fields:
        field.verbose_name = HISTORY_LABELS.get(field.name, field.verbose_name)


def _historical_rate_str(record) -> str:
    """ "1 USD = 7.1000 CNY as of 2026-12-04 11:16", in the reader's words and time zone."""
    when = date_format(timezone.localtime(record.history_date), "Y-m-d H:i")
    return gettext("%(rate)s as of %(date)s") % {"rate": record.history_object, "date": when}


HistoricalRate.__str__ = _historical_rate_str


def _rate_str(rate: Rate) -> str:
    """ "1 USD = 7.1000 CNY": one unit of the sheet's base currency in the rate's currency."""
    if rate.value is None or rate.backend_id is None:
        return gettext("%(currency)s rate") % {"currency": rate.currency}
    return f"1 {rate.backend.base_currency} = {format_rate(rate.value)} {rate.currency}"


# django-money's Rate has no __str__ of its own: the sheet's rows and each rate's history would
# read "Rate object (1)". A proxy model would keep the table but not the history, which
# simple-history records for saves of Rate itself.
Rate.__str__ = _rate_str
