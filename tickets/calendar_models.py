"""Finance's own entries in its holiday calendar.

The `holidays` package knows China's public holidays by rule, but the weekend make-up working
days only once the State Council has published them (each autumn, for the next year) and a
release of the package has caught up. Finance enters the official days here when they are
published; an entered day wins over the package's word for that date (tickets.working_days).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class CalendarDay(models.Model):
    """One day of finance's calendar entered by hand: a public holiday, or a working day
    (a weekend make-up working day, or a weekday the package wrongly takes for a holiday)."""

    class Kind(models.TextChoices):
        HOLIDAY = "holiday", _("Public holiday (not a working day)")
        WORKING_DAY = "working_day", _("Make-up working day (a working day, even on a weekend)")

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100, help_text=_("As the State Council's notice names it."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("entered by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("entered at"), default=timezone.now)
    history = HistoricalRecords()

    class Meta:
        ordering = ["date"]
        verbose_name = _("holiday calendar day")
        verbose_name_plural = _("holiday calendar")

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"

    @property
    def is_working_day(self) -> bool:
        return self.kind == self.Kind.WORKING_DAY
