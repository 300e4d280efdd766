from django.contrib import admin, messages

from .models import TopUp, WebhookDelivery
from .services import reconcile_topup


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records are written by services only; finance reads them here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdmin):
    list_display = ("reference", "account", "amount", "credit_amount", "status", "gateway", "needs_review", "created_at")
    list_filter = ("status", "needs_review", "gateway")
    list_select_related = ("account",)
    search_fields = ("public_id", "gateway_session_id", "account__name")
    date_hierarchy = "created_at"
    actions = ["reconcile_with_gateway"]

    @admin.action(description="Ask the gateway about the selected pending top-ups", permissions=["view"])
    def reconcile_with_gateway(self, request, queryset):
        pending = list(queryset.filter(status=TopUp.Status.PENDING).values_list("pk", flat=True))
        credited = sum(reconcile_topup(topup_id=pk).status == TopUp.Status.CREDITED for pk in pending)
        self.message_user(
            request, f"Checked {len(pending)} pending top-up(s) with the gateway; {credited} credited.", messages.SUCCESS
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "gateway", "event_type", "event_id", "verdict", "delivery_count", "topup")
    list_filter = ("verdict", "gateway", "event_type")
    list_select_related = ("topup",)
    search_fields = ("event_id",)
    date_hierarchy = "received_at"
