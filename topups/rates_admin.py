"""Exchange rates in Django admin: finance keeps one rate sheet per source, each rate checked as it is typed,
and reads every value a rate has had."""

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import display_for_value
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from djmoney.contrib.exchange.models import Rate

from billing_center.admin_base import HistoryAdmin, ReadOnlyAdmin

from .models import HistoricalRate, RateSheet

# --- Exchange rates: finance keeps one rate sheet per source ---------------------------

admin.site.unregister(Rate)  # django-money's own admin cannot add rates to a sheet


# A rate finance types: within what any currency is worth against another (and what SQLite's decimals hold),
# and a move of more than a fifth from the saved one only with a tick. A mistyped 0.000001 for 7.1 had been
# saved, and a checkout opened at it credited 50,000.00 USD for 0.05 CNY (found by a helper).
RATE_RANGE = (Decimal("0.000001"), Decimal("1000000"))
RATE_MOVE = Decimal("1.2")


def our_currency(typed: str) -> str:
    """A currency code as typed, checked against ours: "ZZZ" or "usd" had been saved, and every quote then failed."""
    code = typed.strip().upper()
    if code not in settings.CURRENCIES:
        raise forms.ValidationError(
            _("Use one of our currencies: %(currencies)s.") % {"currencies": ", ".join(settings.CURRENCIES)}
        )
    return code


class RateForm(forms.ModelForm):
    checked = forms.BooleanField(required=False, label=gettext_lazy("checked: moves more than 20%"))

    class Meta:
        model = Rate
        fields = ("currency", "value")
        # django-money's fields have no translatable labels: the inline's headings come from here.
        labels = {"currency": gettext_lazy("currency"), "value": gettext_lazy("rate")}

    def clean_currency(self):
        return our_currency(self.cleaned_data["currency"])

    def clean_value(self):
        value = self.cleaned_data["value"]
        if value is None or value <= 0:
            raise forms.ValidationError(_("A rate must be greater than zero."))
        low, high = RATE_RANGE
        if not low <= value <= high:
            raise forms.ValidationError(
                _("A rate is between %(low)s and %(high)s units per unit of the base currency.")
                % {"low": low, "high": f"{high:,}"}
            )
        return value

    def clean(self):
        cleaned = super().clean()
        value, saved = cleaned.get("value"), self.instance.value if self.instance.pk else None
        if value and saved and not cleaned.get("checked") and not saved / RATE_MOVE <= value <= saved * RATE_MOVE:
            self.add_error(
                "value",
                _("This moves the rate from %(saved)s to %(value)s. If that is right, tick “checked” and save again.")
                % {"saved": saved.normalize(), "value": value.normalize()},
            )
        return cleaned


class RateInline(admin.TabularInline):
    model = Rate
    form = RateForm
    extra = 1
    verbose_name = gettext_lazy("rate")
    verbose_name_plural = gettext_lazy("rates: units of the currency per one unit of the sheet's base currency")


class RateSheetForm(forms.ModelForm):
    class Meta:
        model = RateSheet
        fields = ("name", "base_currency")
        labels = {"name": gettext_lazy("name"), "base_currency": gettext_lazy("base currency")}

    def clean_base_currency(self):
        return our_currency(self.cleaned_data["base_currency"])


@admin.register(RateSheet)
class RateSheetAdmin(HistoryAdmin):
    """Saving the sheet stamps its time: the "as of" every quote shows and the age it is judged by."""

    list_display = ("sheet", "base", "updated", "rate_count")
    form = RateSheetForm
    inlines = [RateInline]

    # django-money's ExchangeBackend names its fields without translatable labels.
    @admin.display(description=gettext_lazy("name"), ordering="name")
    def sheet(self, obj):
        return obj.name

    @admin.display(description=gettext_lazy("base currency"), ordering="base_currency")
    def base(self, obj):
        return obj.base_currency

    @admin.display(description=gettext_lazy("last update"), ordering="last_update")
    def updated(self, obj):
        # In the reader's format and time zone, as Django shows the field itself; a new sheet has none yet.
        return display_for_value(obj.last_update, self.get_empty_value_display())

    @admin.display(description=gettext_lazy("rates"))
    def rate_count(self, obj):
        return obj.rates.count()

    def get_fields(self, request, obj=None):
        # Read-only fields are labelled by the model's fields, which django-money leaves untranslated:
        # they are shown through the columns above instead.
        return ("name", "base_currency", "updated") if obj is None else ("sheet", "base_currency", "updated")

    def get_readonly_fields(self, request, obj=None):
        # The name is the sheet's key and the source every quote and top-up names.
        return ("updated",) if obj is None else ("sheet", "updated")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.instance.save()  # touch last_update even when only the rates changed


@admin.register(HistoricalRate)
class RateHistoryAdmin(ReadOnlyAdmin):
    """Every value a rate has had, when and by whom: what a quote's "as of" referred to."""

    list_display = ("history_date", "backend", "currency", "value", "history_type", "history_user")
    list_filter = ("backend", "currency")
    date_hierarchy = "history_date"
