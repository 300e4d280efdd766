"""Accounts, their users and the ledger.

The ledger is the truth about money: every balance change is one immutable
LedgerEntry, and Account.balance is only a cache of their sum, written by
accounts.ledger.post_ledger_entries and nothing else. `verify_ledger` re-sums it.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField
from simple_history.models import HistoricalRecords

from .review_notes import ReadsReviewNote


class Account(ReadsReviewNote, models.Model):
    class Type(models.TextChoices):
        PREPAID = "prepaid", _("Prepaid")
        POSTPAID = "postpaid", _("Postpaid")
        ENTERPRISE_MEMBER = "enterprise_member", _("Enterprise member")

    name = models.CharField(_("name"), max_length=200)
    type = models.CharField(_("type"), max_length=20, choices=Type.choices, default=Type.PREPAID)
    enterprise_master = models.ForeignKey(
        "self",
        verbose_name=_("enterprise master"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        help_text=_("The enterprise master account that funds a member account."),
    )
    # The currency of `balance` is the account's one billing currency.
    balance = MoneyField(
        _("balance"), max_digits=18, decimal_places=2, default=0, default_currency=settings.DEFAULT_CURRENCY
    )
    # My Account > Preferences: what the customer pays in online. Empty means the billing currency.
    payment_currency = models.CharField(_("payment currency"), max_length=3, blank=True)
    # Expenditure alert (Overview): an SMS below the threshold (billing currency). The ledger service sets
    # `alert_armed` again whenever the balance is back at or above it, so each crossing fires once.
    alert_enabled = models.BooleanField(_("alert enabled"), default=False)
    alert_threshold = models.DecimalField(_("alert threshold"), max_digits=18, decimal_places=2, null=True, blank=True)
    alert_armed = models.BooleanField(_("alert armed"), default=True)
    alert_crossings = models.PositiveIntegerField(
        _("alert crossings"), default=0, help_text=_("Alerts fired so far: numbers each crossing.")
    )
    last_alert_at = models.DateTimeField(_("last alert at"), null=True, blank=True)
    # Refill (auto top-up, topups app): below it a payment starts once per crossing; back at or above re-arms it.
    refill_below = models.DecimalField(_("refill below"), max_digits=18, decimal_places=2, null=True, blank=True)
    refill_armed = models.BooleanField(_("refill armed"), default=True)
    refill_crossings = models.PositiveIntegerField(
        _("refill crossings"), default=0, help_text=_("Crossings below refill_below so far.")
    )
    # Something about the account finance should look at (a disputed card payment), with why.
    needs_review = models.BooleanField(_("needs review"), default=False)
    review_note = models.TextField(_("review note"), blank=True)
    review_note_parts = models.JSONField(null=True, blank=True, editable=False)  # accounts.review_notes
    # Enterprise members (accounts.enterprise, .budgets): what the master lets the member spend in a month (usage
    # beyond it is flagged to the master, never stopped); whether the member's alert also goes to the master's.
    monthly_budget = models.DecimalField(_("monthly budget"), max_digits=18, decimal_places=2, null=True, blank=True)
    budget_exceeded_month = models.DateField(
        _("budget exceeded month"), null=True, blank=True, help_text=_("First day of the month found over.")
    )
    alert_copy_to_master = models.BooleanField(_("alert copy to master"), default=False)
    # Postpaid, set by finance: what it may owe (billed and unbilled) before finance looks at it; usage goes on.
    credit_limit = models.DecimalField(_("credit limit"), max_digits=18, decimal_places=2, null=True, blank=True)
    # Postpaid: the alert fires when what is owed passes this share (%) of the limit (accounts.credit_limits).
    alert_limit_share = models.PositiveSmallIntegerField(_("alert limit share"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # When it last became postpaid (accounts.lifecycle): usage before was paid from its balance, never billed.
    postpaid_since = models.DateTimeField(_("postpaid since"), null=True, blank=True, editable=False)
    history = HistoricalRecords(
        excluded_fields=[
            "balance",
            "alert_armed",
            "alert_crossings",
            "last_alert_at",
            "refill_armed",
            "refill_crossings",
            "budget_exceeded_month",
        ]
    )

    class Meta:
        verbose_name, verbose_name_plural = _("account"), _("accounts")
        ordering = ["name"]
        permissions = [("review_account", "Can mark a flagged account as reviewed")]
        indexes = [
            # The alert sweep reads only accounts that could fire.
            models.Index(
                fields=["id"],
                condition=models.Q(alert_enabled=True, alert_armed=True),
                name="account_alert_candidates",
            ),
        ]
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
    def alert_threshold_money(self):
        from djmoney.money import Money

        return None if self.alert_threshold is None else Money(self.alert_threshold, self.billing_currency)

    @property
    def credit_limit_money(self):
        from djmoney.money import Money

        return None if self.credit_limit is None else Money(self.credit_limit, self.billing_currency)

    @property
    def is_postpaid(self) -> bool:
        return self.type == self.Type.POSTPAID

    @property
    def can_alert(self) -> bool:
        """Prepaid accounts alert on their balance; postpaid ones on a share of their credit limit."""
        return self.spends_own_balance or (self.is_postpaid and self.credit_limit is not None)

    @property
    def pay_currency(self) -> str:
        """The currency online top-ups are paid in."""
        return self.payment_currency or self.billing_currency

    @property
    def can_top_up(self) -> bool:
        return self.type == self.Type.PREPAID

    @property
    def spends_own_balance(self) -> bool:
        """Usage is paid from the balance (prepaid, and members from their master's funds): the
        expenditure alert watches it. Postpaid accounts are billed instead."""
        return self.type in (self.Type.PREPAID, self.Type.ENTERPRISE_MEMBER)

    @property
    def topup_refusal(self) -> str:
        """Why this account cannot top up, in words for its users; empty if it can."""
        if self.type == self.Type.POSTPAID:
            return _(
                "Top-up is not supported for postpaid accounts: you use resources first and then "
                "pay your billed expenditure. Make a repayment against your bills instead."
            )
        if self.type == self.Type.ENTERPRISE_MEMBER:
            master = self.enterprise_master.name if self.enterprise_master_id else _("your enterprise")
            return _(
                "Top-up is not supported for enterprise member accounts. This account is funded by its "
                "enterprise master account, %(master)s: ask an administrator of %(master)s to allocate "
                "funds to it on their Enterprise page in Billing Center."
            ) % {"master": master}
        return ""


def validate_time_zone(value: str) -> None:
    """An IANA time zone name that zoneinfo knows: "Asia/Shanghai", "Europe/Berlin", "UTC"."""
    from zoneinfo import available_timezones

    if value and value not in available_timezones():
        raise ValidationError(_("%(value)s is not a time zone we know."), params={"value": value}, code="time_zone")


class User(AbstractUser):
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        help_text=_("The customer account this user acts for. Empty for staff."),
    )
    # The language pages, e-mails and SMS speak to this user; empty follows the browser (accounts.language).
    language = models.CharField(_("language"), max_length=10, blank=True, choices=settings.LANGUAGES)
    # The browser's, as it asked at the user's last sign-in: e-mails and SMS go in it while `language` is empty.
    browser_language = models.CharField(
        _("browser's language"), max_length=10, blank=True, choices=settings.LANGUAGES, editable=False
    )
    # Every date is shown in this zone (stored in UTC); empty: the site's TIME_ZONE until sign-in offers the browser's.
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, validators=[validate_time_zone])


MONEY_IN = ("online_topup", "bank_transfer", "dispute_won", "repayment")  # LedgerEntry kinds, accounts.ledger


class LedgerEntry(models.Model):
    """One immutable change of one account's balance. Corrections are new entries."""

    class Kind(models.TextChoices):
        ONLINE_TOPUP = "online_topup", _("Online top-up")
        BANK_TRANSFER = "bank_transfer", _("Bank transfer")
        USAGE = "usage", _("Usage charge")
        ADJUSTMENT = "adjustment", _("Adjustment")
        TRANSFER = "transfer", _("Transfer between accounts")
        REFUND = "refund", _("Refund")
        DISPUTE = "dispute", _("Card payment disputed")
        DISPUTE_WON = "dispute_won", _("Dispute won: returned")
        REPAYMENT = "repayment", _("Repayment of bills")
        BANK_RETURN = "bank_return", _("Bank transfer returned")

    # No index of its own: both of the ledger's indexes below lead with the account.
    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="ledger_entries", db_index=False
    )
    amount = MoneyField(_("amount"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # What caused the entry, e.g. "topup:<uuid>"; with `kind` unique: a source moves money at most once.
    source_ref = models.CharField(_("source ref"), max_length=200)
    description = models.CharField(_("description"), max_length=300, blank=True)
    # What our own code wrote the description from, so each reader sees it in their language
    # (accounts.descriptions); none on older rows and on descriptions a caller gave.
    description_parts = models.JSONField(_("description parts"), null=True, blank=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True, on_delete=models.PROTECT
    )
    balance_after = MoneyField(
        _("balance after"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name, verbose_name_plural = _("ledger entry"), _("ledger entries")
        constraints = [
            models.UniqueConstraint(fields=["kind", "source_ref"], name="ledger_entry_once_per_source"),
            # Money comes in once per source, whichever path (a ticket's bank_transfer, a line's repayment).
            models.UniqueConstraint(
                fields=["source_ref"], condition=models.Q(kind__in=MONEY_IN), name="money_in_once_per_source"
            ),
            models.CheckConstraint(condition=~models.Q(amount=0), name="ledger_entry_not_zero"),
        ]
        indexes = [
            # An account's entries newest first (the statement, the Overview, its chart), and by
            # kind (the statement's filter; the alert's runway, which sums recent usage).
            models.Index(fields=["account", "-created_at", "-id"], name="ledger_account_recent"),
            models.Index(fields=["account", "kind", "-created_at", "-id"], name="ledger_account_kind_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} ({self.source_ref})"

    @property
    def is_credit(self) -> bool:
        return self.amount.amount > 0


# The step every amount in the ledger moves by (0.01): its columns keep two places.
LEDGER_PLACES = Decimal(1).scaleb(-LedgerEntry._meta.get_field("amount").decimal_places)


class AlertRecipient(models.Model):
    """Where an account's low-balance alerts go. A mobile number receives alerts only once
    it is confirmed with the one-time code sent to it; e-mail addresses need no code."""

    class Kind(models.TextChoices):
        SMS = "sms", _("Mobile number")
        EMAIL = "email", _("E-mail")

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="alert_recipients"
    )
    kind = models.CharField(_("kind"), max_length=5, choices=Kind.choices)
    address = models.CharField(_("address"), max_length=254, help_text=_("E.164 number or e-mail address."))
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    code_hash = models.CharField(_("code hash"), max_length=64, blank=True)
    code_expires_at = models.DateTimeField(_("code expires at"), null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(_("code attempts"), default=0)
    codes_sent = models.PositiveSmallIntegerField(_("codes sent"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name, verbose_name_plural = _("alert recipient"), _("alert recipients")
        ordering = ["kind", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "address"], name="alert_recipient_once"),
        ]

    def __str__(self) -> str:
        from billing_center.privacy import mask_phone

        return mask_phone(self.address) if self.kind == self.Kind.SMS else self.address

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def display(self) -> str:
        """+86 138 0013 8000 rather than +8613800138000: how people write their number."""
        if self.kind != self.Kind.SMS:
            return self.address
        import phonenumbers

        return phonenumbers.format_number(
            phonenumbers.parse(self.address), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )


class BalanceAlert(models.Model):
    """One low-balance alert: the balance crossed below the threshold (the n-th time)."""

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="balance_alerts"
    )
    crossing = models.PositiveIntegerField(_("crossing"))
    balance = MoneyField(_("balance"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    threshold = MoneyField(_("threshold"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    text = models.CharField(_("text"), max_length=480)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name, verbose_name_plural = _("balance alert"), _("balance alerts")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A retried, duplicated or redelivered check finds the alert it already made.
            models.UniqueConstraint(fields=["account", "crossing"], name="balance_alert_once_per_crossing"),
        ]
        # The Overview's "last alert" and the alert history, newest first, at any number of alerts.
        indexes = [models.Index(fields=["account", "-created_at", "-id"], name="balance_alert_account_recent")]

    def __str__(self) -> str:
        return f"{self.account}: {self.balance} < {self.threshold}"


# Enterprise fund moves, the outbox and the usage API's tokens and charges have their own modules (this one is
# near the size limit); importing them here registers their models with the app.
from .enterprise_models import FundMove  # noqa: E402,F401
from .monthly_usage import MonthlyUsage  # noqa: E402,F401
from .outbound_webhooks.models import DeliveryAttempt, EventDelivery, WebhookEndpoint, WebhookEvent  # noqa: E402,F401
from .outbox_models import OutboundEmail, OutboundSms, OutboxMessage  # noqa: E402,F401
from .usage_api.models import ServiceToken, UsageCharge  # noqa: E402,F401
