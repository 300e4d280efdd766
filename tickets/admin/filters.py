"""The finance queue's list filters: due, awaiting a second approval, currency. Their rows come
from tickets.selectors, the same reads the admin home counts."""

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..selectors import open_tickets, overdue_tickets, tickets_awaiting_second_approval, tickets_due_today
from .labels import AWAITING_APPROVAL


class DueFilter(admin.SimpleListFilter):
    """The queue opens on the tickets finance still has to act on; "All tickets" shows the rest."""

    title = _("deadline")
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [
            ("open", _("All open")),
            ("overdue", _("Overdue")),
            ("today", _("Due today")),
            ("soon", _("Due within 24 h")),
            ("all", _("All tickets")),
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
        if self.value() == "overdue":
            return overdue_tickets(now=now, queryset=queryset)
        if self.value() == "today":
            return tickets_due_today(now=now, queryset=queryset)
        if self.value() == "soon":
            return open_tickets(queryset).filter(due_at__gte=now, due_at__lt=now + timedelta(hours=24))
        if self.value() == "all":
            return queryset
        return open_tickets(queryset)


class ApprovalFilter(admin.SimpleListFilter):
    title = _("second approval")
    parameter_name = "approval"

    def lookups(self, request, model_admin):
        return [("waiting", AWAITING_APPROVAL), ("mine", _("Proposed by me")), ("none", _("Nothing proposed yet"))]

    def queryset(self, request, queryset):
        waiting = tickets_awaiting_second_approval(queryset)
        if self.value() == "waiting":
            return waiting
        if self.value() == "none":
            return queryset.filter(proposed_by__isnull=True)
        if self.value() == "mine":
            return waiting.filter(proposed_by=request.user)
        return queryset


class CurrencyFilter(admin.SimpleListFilter):
    title = _("currency")
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        return [(code, code) for code in settings.CURRENCIES]

    def queryset(self, request, queryset):
        return queryset.filter(amount_currency=self.value()) if self.value() in settings.CURRENCIES else queryset
