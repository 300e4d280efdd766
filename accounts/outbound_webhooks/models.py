"""Outbound webhooks: endpoints, the events they hear about, and each delivery with its attempts.

An event is written in the same transaction as the change it reports (the outbox), with one
delivery row per endpoint that wants it; workers deliver them in order per endpoint.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.descriptions import entry_description


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


class WebhookEndpoint(models.Model):
    """A URL that hears about one account's events (a customer's), or every account's (an
    operator's, with no account)."""

    account = models.ForeignKey(
        "accounts.Account",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="webhook_endpoints",
        help_text=_("Empty: an operator's endpoint that hears about every account."),
    )
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = models.JSONField(_("events"), default=list)
    secret = models.CharField(max_length=100)  # whsec_…: signs every delivery
    previous_secret = models.CharField(max_length=100, blank=True)  # still signs until previous_secret_until
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=300, blank=True)
    # What the reason was written from (accounts.descriptions), so each reader sees it in their language.
    disabled_reason_parts = models.JSONField(null=True, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True)  # a worker is delivering until then
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.url

    @property
    def is_operators(self) -> bool:
        return self.account_id is None

    @property
    def disabled_reason_shown(self) -> str:
        """Why the endpoint was turned off, in the reader's language (older rows: as stored)."""
        return entry_description(self.disabled_reason, self.disabled_reason_parts)


class WebhookEvent(models.Model):
    """One thing that happened, with its versioned JSON payload; sent to every endpoint that wants it."""

    event_id = models.CharField(max_length=40, unique=True, default=new_event_id)
    type = models.CharField(_("event"), max_length=40, db_index=True)
    account = models.ForeignKey("accounts.Account", null=True, on_delete=models.PROTECT, related_name="+")
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class EventDelivery(models.Model):
    """One event for one endpoint: pending until the endpoint answers 2xx, retried with backoff."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed (retries used up)")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    first_failed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("event delivery")
        verbose_name_plural = _("event deliveries")
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once")]
        indexes = [models.Index(fields=["endpoint", "status", "event"], name="webhook_delivery_queue")]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint}"


class DeliveryAttempt(models.Model):
    """The delivery log: what one try sent and what came back."""

    delivery = models.ForeignKey(EventDelivery, on_delete=models.CASCADE, related_name="log")
    at = models.DateTimeField(_("at"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), default=0)
    response_excerpt = models.CharField(_("response"), max_length=500, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    error_parts = models.JSONField(null=True, blank=True, editable=False)  # as disabled_reason_parts

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"

    @property
    def error_shown(self) -> str:
        """The error in the reader's language (rows written before the parts were kept: as stored)."""
        return entry_description(self.error, self.error_parts)

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
