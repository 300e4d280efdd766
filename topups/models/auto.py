"""Auto top-up: a saved card charged when the balance falls below a threshold."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class AutoTopUp(models.Model):
    """A prepaid account's auto top-up: when the balance falls below `threshold`, charge the
    saved card `amount`, once per crossing, within a daily and a monthly ceiling.

    The account row carries the threshold (Account.refill_below) so the ledger writer notices
    and numbers each crossing under its row lock (refill_crossings); `crossings` is the last one
    handled here, and each crossing's top-up has the request key auto:<n>, unique per account,
    so a crossing can never pay twice.
    """

    MAX_FAILURES_IN_A_ROW = 3

    account = models.OneToOneField(
        "accounts.Account", on_delete=models.CASCADE, related_name="auto_topup", verbose_name=_("account")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner")
    )
    enabled = models.BooleanField(default=False, verbose_name=_("enabled"))
    # In the account's billing currency.
    threshold = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True, verbose_name=_("threshold"))
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True, verbose_name=_("amount"))
    daily_ceiling = models.DecimalField(
        max_digits=18, decimal_places=2, null=True, blank=True, verbose_name=_("daily ceiling")
    )
    monthly_ceiling = models.DecimalField(
        max_digits=18, decimal_places=2, null=True, blank=True, verbose_name=_("monthly ceiling")
    )
    # The saved card, at the gateway: never the number itself.
    gateway = models.CharField(max_length=20, blank=True, verbose_name=_("gateway"))
    gateway_customer_id = models.CharField(max_length=255, blank=True, verbose_name=_("gateway customer id"))
    payment_method_id = models.CharField(max_length=255, blank=True, verbose_name=_("payment method id"))
    card_label = models.CharField(max_length=100, blank=True, verbose_name=_("card label"))
    card_saved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("card saved at"))
    setup_session_id = models.CharField(max_length=255, blank=True, verbose_name=_("setup session id"))
    crossings = models.PositiveIntegerField(
        default=0, help_text=_("The last crossing handled."), verbose_name=_("crossings")
    )
    failures_in_a_row = models.PositiveSmallIntegerField(default=0, verbose_name=_("failures in a row"))
    paused_at = models.DateTimeField(null=True, blank=True, verbose_name=_("paused at"))
    last_problem = models.CharField(max_length=300, blank=True, verbose_name=_("last problem"))
    last_problem_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last problem at"))
    history = HistoricalRecords(excluded_fields=["crossings"])

    class Meta:
        verbose_name = _("auto top-up")
        verbose_name_plural = _("auto top-ups")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0) | models.Q(amount__isnull=True), name="auto_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"Auto top-up of {self.account}"

    @property
    def has_card(self) -> bool:
        return bool(self.payment_method_id)

    @property
    def is_active(self) -> bool:
        return self.enabled and self.has_card and self.paused_at is None
