from django import forms
from django.conf import settings

from .models import LedgerEntry


class PreferencesForm(forms.Form):
    payment_currency = forms.ChoiceField(
        label="Payment currency",
        help_text="The currency you pay online top-ups in. Your balance stays in your billing currency.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payment_currency"].choices = [(code, code) for code in settings.PAYMENT_CURRENCIES]


class DateRangeFilterForm(forms.Form):
    """An inclusive From–To date filter for record pages (see selectors.within_days)."""

    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data


class StatementFilterForm(DateRangeFilterForm):
    kind = forms.ChoiceField(choices=[("", "All types"), *LedgerEntry.Kind.choices], required=False)
    field_order = ["kind", "date_from", "date_to"]
