"""The usage API's models: the bearer tokens other services of the cloud post usage charges with, and each charge,
posted once per (service, idempotency key). Registered with the accounts app by accounts.models."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField


class ServiceToken(models.Model):
    """A bearer token for another service of the cloud (metering) to post usage charges.

    Only its SHA-256 is stored; the token is shown once, when an admin creates it.
    """

    service = models.SlugField(_("service"), max_length=50, help_text=_("Idempotency keys are scoped to the service."))
    name = models.CharField(_("name"), max_length=100)
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        _("prefix"), max_length=12, editable=False, help_text=_("The token's first characters, to tell them apart.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        verbose_name, verbose_name_plural = _("service token"), _("service tokens")
        ordering = ["service", "-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class UsageCharge(models.Model):
    """A debit posted by another service, exactly once per (service, idempotency key)."""

    service = models.SlugField(_("service"), max_length=50)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    request_hash = models.CharField(
        _("request hash"), max_length=64, help_text=_("SHA-256 of the charge as posted, to spot a changed body.")
    )
    account = models.ForeignKey(
        "accounts.Account", verbose_name=_("account"), on_delete=models.PROTECT, related_name="usage_charges"
    )
    amount = MoneyField(_("amount"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY)
    description = models.CharField(_("description"), max_length=300, blank=True)
    ledger_entry = models.OneToOneField(
        "accounts.LedgerEntry", verbose_name=_("ledger entry"), on_delete=models.PROTECT, related_name="usage_charge"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name, verbose_name_plural = _("usage charge"), _("usage charges")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["service", "idempotency_key"], name="usage_charge_once_per_key"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="usage_charge_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.service}:{self.idempotency_key}"
