"""Finance's receiving ("top-up") bank accounts, their statements' CSV layouts and invoices in Django admin."""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from accounts.descriptions import describe
from billing_center.admin_base import AddedNotEditedMixin, HistoryAdmin
from billing_center.admin_log import log_done
from money.errors import BillingError

from .. import receiving_accounts as services
from ..models import Invoice, ReceivingAccount, StatementCsvFormat
from . import log_words

# --- Receiving accounts -------------------------------------------------------------------


class ReceivingAccountForm(forms.ModelForm):
    class Meta:
        model = ReceivingAccount
        fields = [
            "bank_name",
            "bank_address",
            "account_name",
            "iban",
            "account_number",
            "swift_bic",
            "currency",
            "region",
        ]

    currency = forms.ChoiceField(label=gettext_lazy("Currency"), choices=[(c, c) for c in settings.CURRENCIES])

    def clean_iban(self) -> str:
        text = self.cleaned_data["iban"].strip()
        if not text:
            return ""
        try:
            return IBAN(text).compact
        except SchwiftyException as exc:
            raise forms.ValidationError(_("This is not a valid IBAN: %(error)s") % {"error": exc}) from exc

    def clean_swift_bic(self) -> str:
        try:
            return BIC(self.cleaned_data["swift_bic"].strip()).compact
        except SchwiftyException as exc:
            raise forms.ValidationError(_("This is not a valid SWIFT/BIC code: %(error)s") % {"error": exc}) from exc

    def clean_account_number(self) -> str:
        number = "".join(self.cleaned_data["account_number"].split())
        if number and not number.isascii() or number and not number.replace("-", "").isalnum():
            raise forms.ValidationError(_("Use digits and letters only (dashes allowed)."))
        return number


@admin.register(ReceivingAccount)
class ReceivingAccountAdmin(AddedNotEditedMixin, HistoryAdmin):
    """Added, retired, never edited: invoices keep printing the account valid at issue."""

    form = ReceivingAccountForm
    list_display = ("bank_name", "currency", "region", "number", "swift_bic", "valid_from", "state")
    list_filter = ("currency", "region", ("retired_at", admin.EmptyFieldListFilter))
    search_fields = ("bank_name", "account_name", "iban", "account_number", "swift_bic")
    actions = ["retire", "extend_ticket_window", "close_ticket_window"]

    @admin.display(description=gettext_lazy("Account"))
    def number(self, obj):
        return obj.number_display

    @admin.display(description=gettext_lazy("State"))
    def state(self, obj):
        if obj.retired_at and obj.tickets_until and obj.tickets_until > timezone.now():
            text = _("Retired %(retired)s; tickets accepted until %(until)s") % {
                "retired": f"{timezone.localdate(obj.retired_at):%Y-%m-%d}",
                "until": f"{timezone.localdate(obj.tickets_until):%Y-%m-%d}",
            }
            return format_html('<span style="color:#5f6b7a">{}</span>', text)
        if obj.retired_at:
            text = _("Retired %(retired)s") % {"retired": f"{timezone.localdate(obj.retired_at):%Y-%m-%d}"}
            return format_html('<span style="color:#5f6b7a">{}</span>', text)
        return format_html('<strong style="color:#1a7f4b">{}</strong>', _("Current"))

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (*self.form.Meta.fields, "valid_from", "retired_at", "tickets_until")

    def save_model(self, request, obj, form, change):
        if not change:
            services.add_receiving_account(account=obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and (obj.invoices.exists() or obj.tickets.exists()):
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(
        description=gettext_lazy("Retire the selected accounts (no longer shown to customers)"), permissions=["change"]
    )
    def retire(self, request, queryset):
        for before in queryset.filter(retired_at__isnull=True):
            retired = services.retire_receiving_account(account_id=before.pk)
            log_done(request, retired, describe(log_words.RETIRED), before=before)
        self.message_user(request, _("Retired. Invoices that print them keep doing so."), messages.SUCCESS)

    @admin.action(
        description=gettext_lazy("Accept Transfer Tickets naming the selected retired accounts for 90 more days"),
        permissions=["change"],
    )
    def extend_ticket_window(self, request, queryset):
        until = timezone.now() + services.RETIRED_TICKET_WINDOW
        done = _("Tickets naming them are accepted until %(date)s.") % {"date": f"{until:%Y-%m-%d}"}
        self._set_window(
            request, queryset, until, done, describe(log_words.WINDOW_UNTIL, date=timezone.localdate(until))
        )

    @admin.action(
        description=gettext_lazy("Stop accepting Transfer Tickets naming the selected retired accounts"),
        permissions=["change"],
    )
    def close_ticket_window(self, request, queryset):
        done = _("Only customers whose invoices print them can name them now.")
        self._set_window(request, queryset, None, done, describe(log_words.WINDOW_CLOSED))

    def _set_window(self, request, queryset, until, done: str, said) -> None:
        retired = list(queryset.filter(retired_at__isnull=False))
        if not retired:
            self.message_user(request, _("Only a retired account has a ticket window."), messages.WARNING)
            return
        for before in retired:
            after = services.set_ticket_window(account_id=before.pk, until=until)
            log_done(request, after, said, before=before)
        self.message_user(request, done, messages.SUCCESS)


# --- Invoices -------------------------------------------------------------------------------


# The most one invoice asks for: SQLite, the default database, keeps decimals as floating point, and an amount of
# sixteen digits had made the customer's invoice pages and the admin list fail for good (found by a helper).
LARGEST_INVOICE = Decimal("1000000000")


class InvoiceForm(forms.ModelForm):
    class Meta:
        model = Invoice
        fields = ["account", "amount", "issue_date", "due_date", "description"]

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount is not None and not 0 < amount.amount <= LARGEST_INVOICE:
            raise forms.ValidationError(
                _("An invoice is for more than zero and at most %(largest)s.") % {"largest": f"{LARGEST_INVOICE:,}"}
            )
        return amount

    def clean(self):
        cleaned = super().clean()
        issued, due = cleaned.get("issue_date"), cleaned.get("due_date")
        if issued and due and due < issued:
            self.add_error("due_date", _("The due date cannot be before the issue date."))
        return cleaned


@admin.register(Invoice)
class InvoiceAdmin(AddedNotEditedMixin, HistoryAdmin):
    form = InvoiceForm
    list_display = ("number", "account", "amount", "issue_date", "receiving_account")
    list_select_related = ("account", "receiving_account")
    search_fields = ("number", "account__name")
    date_hierarchy = "issue_date"
    autocomplete_fields = ("account",)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("number", "account", "amount", "issue_date", "due_date", "description", "receiving_account")

    def save_model(self, request, obj, form, change):
        if change:
            return  # issued invoices are not edited
        try:
            services.issue_invoice(invoice=obj)
        except BillingError as exc:
            # Checked again in clean(); this only guards a race with a retirement.
            raise forms.ValidationError(exc.message) from exc

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:
            form.clean = _check_receiving_account_exists(form.clean)
        return form

    def has_delete_permission(self, request, obj=None):
        return False


def _check_receiving_account_exists(clean):
    def wrapped(self):
        data = clean(self)
        amount = data.get("amount") if data else None
        if (
            amount is not None
            and not ReceivingAccount.objects.filter(currency=str(amount.currency), retired_at__isnull=True).exists()
        ):
            raise forms.ValidationError(
                _("There is no current receiving account in %(currency)s. Add one before issuing this invoice.")
                % {"currency": amount.currency}
            )
        return data

    return wrapped


@admin.register(StatementCsvFormat)
class StatementCsvFormatAdmin(admin.ModelAdmin):
    list_display = ("receiving_account", "encoding", "delimiter", "date_column", "amount_column", "balance_column")
    # A column is named by its heading, as the bank's export writes it: the form had not said so (found by a helper).
    fieldsets = [
        (None, {"fields": ("receiving_account", "encoding", "delimiter")}),
        (
            gettext_lazy("Columns"),
            {
                "description": gettext_lazy(
                    "Name each column by its heading in the bank's export, exactly as written on the file's first "
                    "line (not by its position)."
                ),
                "fields": (
                    *("date_column", "date_format", "amount_column", "balance_column", "reference_column"),
                    *("currency_column", "payer_column", "payer_account_column", "remittance_column"),
                ),
            },
        ),
    ]
