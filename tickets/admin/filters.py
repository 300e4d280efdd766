"""The finance queue's list filters: due, awaiting a second approval, currency."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import admin
from django.utils import timezone

from ..models import TransferTicket


class DueFilter(admin.SimpleListFilter):
    """The queue opens on the tickets finance still has to act on; "All tickets" shows the rest."""

    title = "deadline"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [
            ("open", "All open"),
            ("overdue", "Overdue"),
            ("today", "Due today"),
            ("soon", "Due within 24 h"),
            ("all", "All tickets"),
        ]

    def value(self):
        return super().value() or "open"

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        now = timezone.now()
        open_tickets = queryset.filter(status__in=TransferTicket.OPEN_STATUSES)
        if self.value() == "overdue":
            return open_tickets.filter(due_at__lt=now)
        if self.value() == "today":
            return open_tickets.filter(due_at__gte=now, due_at__lte=end_of_finance_day(now))
        if self.value() == "soon":
            return open_tickets.filter(due_at__gte=now, due_at__lt=now + timedelta(hours=24))
        if self.value() == "all":
            return queryset
        return open_tickets


class ApprovalFilter(admin.SimpleListFilter):
    title = "second approval"
    parameter_name = "approval"

    def lookups(self, request, model_admin):
        return [("waiting", "Awaiting 2nd approval"), ("mine", "Proposed by me")]

    def queryset(self, request, queryset):
        waiting = queryset.filter(status__in=TransferTicket.OPEN_STATUSES, proposed_by__isnull=False)
        if self.value() == "waiting":
            return waiting
        if self.value() == "mine":
            return waiting.filter(proposed_by=request.user)
        return queryset


class CurrencyFilter(admin.SimpleListFilter):
    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        return [(code, code) for code in settings.CURRENCIES]

    def queryset(self, request, queryset):
        return queryset.filter(amount_currency=self.value()) if self.value() in settings.CURRENCIES else queryset


def end_of_finance_day(now: datetime) -> datetime:
    zone = ZoneInfo(settings.FINANCE_TIME_ZONE)
    return datetime.combine(now.astimezone(zone).date(), time(23, 59, 59), tzinfo=zone)
