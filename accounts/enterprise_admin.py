"""Finance's view of enterprise fund moves: every allocation and reclaim, who made it, and its
two ledger entries. Read-only: moves are made by the master on its Enterprise page."""

from django.contrib import admin

from billing_center.admin_base import ReadOnlyAdmin

from .enterprise_models import FundMove


@admin.register(FundMove)
class FundMoveAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "direction", "master", "member", "amount", "actor")
    list_filter = ("direction",)
    list_select_related = ("master", "member", "actor")
    search_fields = ("master__name", "member__name", "actor__username", "request_key")
    date_hierarchy = "created_at"
    fields = ("created_at", "direction", "master", "member", "amount", "actor", "debit_entry", "credit_entry")
