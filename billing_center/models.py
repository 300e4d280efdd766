"""Infrastructure rows: the claim each periodic run makes (billing_center.scheduler)."""

from django.db import models


class PeriodicRun(models.Model):
    """One row per periodic task and period, inserted by the beat that sends it: a second beat's
    insert hits the unique constraint and that beat sends nothing."""

    task = models.CharField(max_length=100)  # the beat schedule's entry name
    period_start = models.DateTimeField()
    claimed_at = models.DateTimeField(auto_now_add=True)
    claimed_by = models.CharField(max_length=100)  # host and pid of the beat that sent it

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "period_start"], name="periodic_run_once_per_period")]

    def __str__(self) -> str:
        return f"{self.task} @ {self.period_start:%Y-%m-%d %H:%M:%S}"
