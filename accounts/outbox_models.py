"""The outbox: e-mails and SMS written in the same transaction as the change that causes them
(accounts.notifications queues them, accounts.outbox delivers them)."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class OutboxMessage(models.Model):
    """A message to send, written in the same transaction as the change that causes it.

    A rollback leaves no row, so nothing is sent; a lost task leaves a PENDING row that a
    periodic sweep picks up. `dedupe_key` makes each cause send once (accounts.outbox).
    """

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("outbox", "Pending")
        SENDING = "sending", pgettext_lazy("outbox", "Sending")
        SENT = "sent", pgettext_lazy("outbox", "Sent")
        FAILED = "failed", pgettext_lazy("outbox", "Failed")

    dedupe_key = models.CharField(_("dedupe key"), max_length=200, unique=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    claimed_at = models.DateTimeField(
        _("claimed at"), null=True, blank=True, help_text=_("When a worker took it to send.")
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]


class OutboundEmail(OutboxMessage):
    account = models.ForeignKey(
        "accounts.Account",
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="emails",
    )
    alert = models.ForeignKey(
        "BalanceAlert", verbose_name=_("alert"), null=True, blank=True, on_delete=models.PROTECT, related_name="emails"
    )
    to = models.EmailField(_("to"))
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("body"))

    class Meta(OutboxMessage.Meta):
        verbose_name, verbose_name_plural = _("outbound email"), _("outbound emails")
        indexes = [models.Index(fields=["status", "created_at"], name="email_status_age")]

    def __str__(self) -> str:
        return f"{self.subject} → {self.to} ({self.get_status_display()})"


class OutboundSms(OutboxMessage):
    """An SMS to send (an alert, a confirmation code); the SMS log finance and staff see."""

    account = models.ForeignKey(
        "accounts.Account",
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sms",
    )
    alert = models.ForeignKey(
        "BalanceAlert", verbose_name=_("alert"), null=True, blank=True, on_delete=models.PROTECT, related_name="sms"
    )
    to = models.CharField(_("to"), max_length=16, help_text=_("E.164"))
    text = models.CharField(_("text"), max_length=480)
    provider_message_id = models.CharField(_("provider message id"), max_length=64, blank=True)

    class Meta(OutboxMessage.Meta):
        verbose_name = _("SMS")
        verbose_name_plural = _("SMS log")
        indexes = [models.Index(fields=["status", "created_at"], name="sms_status_age")]

    def __str__(self) -> str:
        from billing_center.privacy import mask_phone

        return f"SMS → {mask_phone(self.to)} ({self.get_status_display()})"
