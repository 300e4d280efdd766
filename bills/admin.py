"""Finance reads bills, their lines and what settled them (only services write them), and sets
the credit limit of postpaid accounts."""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from djmoney.money import Money

from accounts.credit_limits import set_credit_limit
from accounts.forms import threshold_from_form
from accounts.models import Account
from billing_center.admin_base import EMPTY, ReadOnlyAdmin, ReviewFlagMixin
from money.errors import BillingError
from money.formatting import format_money

from .models import Bill, BillLine, PostpaidAccount, Settlement


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
    fields = ("created_at", "amount", "source_ref", "shown_note")
    readonly_fields = fields

    @admin.display(description=gettext_lazy("note"))
    def shown_note(self, settlement: Settlement) -> str:
        return settlement.shown_note  # in the clerk's language (accounts.descriptions)


@admin.register(Bill)
class BillAdmin(ReadOnlyAdmin):
    list_display = ("number", "account", "period_start", "amount_due", "amount_paid", "status", "due_on", "reminder")
    list_filter = ("status", "reminder")
    list_select_related = ("account",)
    search_fields = ("number", "account__name")
    date_hierarchy = "period_start"
    inlines = [BillLineInline, SettlementInline]


class CreditLimitForm(forms.ModelForm):
    """The limit as an amount in the account's billing currency (plain digits, the one parser). An account
    without a limit may owe any amount: a limit is removed only with its box ticked, never by an emptied
    field alone (a slip of the keyboard had lifted it)."""

    credit_limit = forms.CharField(label=gettext_lazy("Credit limit"), max_length=20, required=False)
    no_limit = forms.BooleanField(
        label=gettext_lazy("No credit limit"),
        required=False,
        help_text=gettext_lazy("The account may then owe any amount; finance is no longer told when it passes one."),
    )

    class Meta:
        model = PostpaidAccount
        fields = ("credit_limit",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["no_limit"].initial = self.instance.credit_limit is None

    def clean_credit_limit(self):
        raw = self.cleaned_data["credit_limit"].strip()
        return threshold_from_form(raw, self.instance.billing_currency) if raw else None

    def clean(self):
        cleaned = super().clean()
        limit, none = cleaned.get("credit_limit"), cleaned.get("no_limit")
        if "credit_limit" in self.errors:
            return cleaned
        if limit is not None and none:
            self.add_error("no_limit", _("Enter a credit limit or tick “No credit limit”, not both."))
        elif limit is None and not none:
            self.add_error("credit_limit", _("Enter a credit limit, or tick “No credit limit” to remove it."))
        return cleaned


@admin.register(PostpaidAccount)
class PostpaidAccountAdmin(ReviewFlagMixin, admin.ModelAdmin):
    """The one field finance changes here is the credit limit, through set_credit_limit, which moves
    the customer's limit alert with it; the account itself is managed under Accounts."""

    form = CreditLimitForm
    list_display = ("name", "balance", "unpaid", "limit", "review")
    list_filter = ("needs_review",)
    actions = ["mark_reviewed"]
    search_fields = ("name",)
    fields = ("name", "balance", "credit_limit", "no_limit", "alert_limit_share", "review", "review_note_shown")
    readonly_fields = ("name", "balance", "alert_limit_share", "review")

    def get_queryset(self, request):
        unpaid = Q(bills__status__in=Bill.OUTSTANDING)
        return (
            super()
            .get_queryset(request)
            .filter(type=Account.Type.POSTPAID)
            .annotate(due=Sum("bills__amount_due", filter=unpaid), paid=Sum("bills__amount_paid", filter=unpaid))
        )

    @admin.display(description=gettext_lazy("Unpaid bills"))
    def unpaid(self, obj):
        """What the open bills still ask for, as money: the sums alone read "201.550000000000" on SQLite."""
        return format_money(Money(Decimal(obj.due or 0) - Decimal(obj.paid or 0), obj.billing_currency))

    @admin.display(description=gettext_lazy("credit limit"), ordering="credit_limit")
    def limit(self, obj):
        return format_money(obj.credit_limit_money) if obj.credit_limit is not None else EMPTY

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            set_credit_limit(account_id=obj.pk, limit=form.cleaned_data["credit_limit"], actor=request.user)
        except BillingError as exc:
            obj.refused = True
            self.message_user(request, exc.message, messages.ERROR)

    def log_change(self, request, obj, message):
        """A limit the service refused was not set: admin's audit trail (billing_center.admin_log) says nothing."""
        return None if getattr(obj, "refused", False) else super().log_change(request, obj, message)
