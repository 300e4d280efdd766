"""A ticket's thread: its events (status changes, messages, deadline flags), the certificates attached
to them, and certificates held for a customer's corrected form."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import certificate_storage, certificate_upload_to, held_upload_to
from .notes import shown


class Certificate(models.Model):
    """A bank certificate (PDF or image), checked by content and stored privately."""

    ticket = models.ForeignKey("tickets.TransferTicket", on_delete=models.PROTECT, related_name="certificates")
    message = models.ForeignKey(
        "TicketEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="certificates"
    )
    file = models.FileField(upload_to=certificate_upload_to, storage=certificate_storage, max_length=200)
    original_name = models.CharField(max_length=120)
    content_type = models.CharField(max_length=40)
    extension = models.CharField(max_length=5)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at", "id"]
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


class HeldCertificate(models.Model):
    """A checked certificate kept while the customer corrects the rest of the ticket form, so
    they do not pick the file again: owner-scoped, expiring (tickets.held_certificates)."""

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    file = models.FileField(upload_to=held_upload_to, storage=certificate_storage, max_length=200)
    original_name = models.CharField(max_length=120)
    content_type = models.CharField(max_length=40)
    extension = models.CharField(max_length=5)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("held certificate")
        verbose_name_plural = _("held certificates")

    def __str__(self) -> str:
        return self.original_name


class TicketEvent(models.Model):
    """One line of a ticket's timeline: a status change, a message, a deadline flag.

    `public` events (and their messages) are shown to the customer; internal ones
    (a maker's proposal, a deadline warning) only to finance.
    """

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        UNDER_REVIEW = "under_review", _("Review started")
        PROPOSED = "proposed", _("Credit proposed, awaiting second approval")
        PROPOSAL_WITHDRAWN = "proposal_withdrawn", _("Proposed credit withdrawn")
        INFO_REQUESTED = "info_requested", _("More information requested")
        CUSTOMER_REPLY = "customer_reply", _("Customer replied")
        CREDITED = "credited", _("Credited")
        REJECTED = "rejected", _("Rejected")
        DUE_SOON = "due_soon", _("Deadline is near")
        OVERDUE = "overdue", _("Deadline passed")

    ticket = models.ForeignKey("tickets.TransferTicket", on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_finance = models.BooleanField(default=False)
    public = models.BooleanField(default=True)
    body = models.TextField(blank=True)
    # A line our code wrote (a proposed credit, a credit): its message and arguments, so each
    # reader sees it in their language (tickets.notes); none on what people wrote.
    body_parts = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("ticket event")
        verbose_name_plural = _("ticket events")
        constraints = [
            # A deadline flag is raised once per ticket, however often the beat task runs.
            models.UniqueConstraint(
                fields=["ticket", "kind"],
                condition=models.Q(kind__in=["due_soon", "overdue"]),
                name="ticket_deadline_flag_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket}: {self.get_kind_display()}"

    @property
    def shown_body(self) -> str:
        """The body in the active language (what people wrote stays as written)."""
        return shown(self.body, self.body_parts, "")
