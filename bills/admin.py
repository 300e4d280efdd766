"""Finance reads bills, their lines and what settled them; only services write them."""

from django.contrib import admin

from billing_center.admin_base import ReadOnlyAdmin

from .models import Bill, BillLine, Settlement


class BillLineInline(admin.TabularInline):
    model = BillLine
    fields = ("service", "description", "count", "total")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class SettlementInline(BillLineInline):
    model = Settlement
    fields = ("created_at", "amount", "source_ref", "note")
    readonly_fields = fields


@admin.register(Bill)
class BillAdmin(ReadOnlyAdmin):
    list_display = ("number", "account", "period_start", "amount_due", "amount_paid", "status", "due_on", "reminder")
    list_filter = ("status", "reminder")
    list_select_related = ("account",)
    search_fields = ("number", "account__name")
    date_hierarchy = "period_start"
    inlines = [BillLineInline, SettlementInline]
