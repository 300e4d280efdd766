from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from djmoney.money import Money
from simple_history.admin import SimpleHistoryAdmin

from .models import Account, LedgerEntry, OutboundEmail, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = DjangoUserAdmin.fieldsets + (("Billing", {"fields": ("account",)}),)
    list_display = ("username", "email", "account", "is_staff")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)


class AccountAddForm(forms.ModelForm):
    """New accounts choose their one billing currency; it never changes afterwards."""

    billing_currency = forms.ChoiceField(choices=[(code, code) for code in settings.BILLING_CURRENCIES])

    class Meta:
        model = Account
        fields = ("name", "type", "enterprise_master")

    def save(self, commit=True):
        self.instance.balance = Money(0, self.cleaned_data["billing_currency"])
        return super().save(commit)


@admin.register(Account)
class AccountAdmin(SimpleHistoryAdmin):
    list_display = ("name", "type", "balance", "enterprise_master", "created_at")
    list_filter = ("type",)
    list_select_related = ("enterprise_master",)
    search_fields = ("name",)
    # The balance only moves through the ledger service, never by editing this form.
    readonly_fields = ("balance", "created_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = AccountAddForm
            kwargs["fields"] = ("name", "type", "enterprise_master", "billing_currency")
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "type", "enterprise_master", "billing_currency")
        return ("name", "type", "enterprise_master", "balance_currency", "balance", "created_at")

    def get_readonly_fields(self, request, obj=None):
        # The billing currency is fixed once the account exists: its entries are in it.
        if obj is not None:
            return self.readonly_fields + ("balance_currency",)
        return self.readonly_fields


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "account", "kind", "amount", "balance_after", "source_ref", "actor")
    list_filter = ("kind",)
    list_select_related = ("account", "actor")
    search_fields = ("source_ref", "description", "account__name")
    date_hierarchy = "created_at"

    # Entries are append-only: posted by services, never added, edited or deleted here.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ("created_at", "to", "subject", "status", "attempts", "sent_at")
    list_filter = ("status",)
    search_fields = ("to", "subject", "dedupe_key")
    readonly_fields = [f.name for f in OutboundEmail._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
