"""The record of each move of funds between an enterprise master and one of its members.

The money itself moves in the ledger (two entries that sum to zero); a FundMove says which
move it was, who asked for it and from which form. It is written once, with its entries,
by accounts.enterprise, and never changed: a correction is another move.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField

from .models import Account, LedgerEntry


class FundMove(models.Model):
    class Direction(models.TextChoices):
        ALLOCATION = "allocation", _("Allocation")  # master → member
        RECLAIM = "reclaim", _("Reclaim")  # member → master

    master = models.ForeignKey(
        Account, verbose_name=_("master account"), on_delete=models.PROTECT, related_name="fund_moves_made"
    )
    member = models.ForeignKey(
        Account, verbose_name=_("member account"), on_delete=models.PROTECT, related_name="fund_moves"
    )
    direction = models.CharField(verbose_name=_("direction"), max_length=10, choices=Direction.choices)
    amount = MoneyField(
        verbose_name=_("amount"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    # The key of the form that asked for it: a double click, a resubmission or a second tab
    # sends the same key and finds this move instead of making another.
    request_key = models.CharField(verbose_name=_("request key"), max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), on_delete=models.PROTECT, related_name="+"
    )
    debit_entry = models.OneToOneField(
        LedgerEntry, verbose_name=_("debit entry"), on_delete=models.PROTECT, related_name="+"
    )
    credit_entry = models.OneToOneField(
        LedgerEntry, verbose_name=_("credit entry"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name, verbose_name_plural = _("fund move"), _("fund moves")
        constraints = [
            models.UniqueConstraint(fields=["master", "request_key"], name="fund_move_once_per_form"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="fund_move_positive"),
        ]
        # The Enterprise page's recent moves, and a member's allocations received, newest first.
        indexes = [
            models.Index(fields=["master", "-created_at", "-id"], name="fund_move_master_recent"),
            models.Index(fields=["member", "-created_at", "-id"], name="fund_move_member_recent"),
        ]

    def __str__(self) -> str:
        return gettext("%(direction)s of %(amount)s (%(when)s)") % {
            "direction": self.get_direction_display(),
            "amount": self.amount,
            "when": f"{timezone.localtime(self.created_at):%Y-%m-%d %H:%M}",
        }

    @property
    def member_change(self):
        """What the move did to the member's balance: + for an allocation, − for a reclaim."""
        return self.amount if self.direction == self.Direction.ALLOCATION else -self.amount

    @property
    def master_change(self):
        """What the move did to the master's balance: − for an allocation, + for a reclaim."""
        return -self.member_change
