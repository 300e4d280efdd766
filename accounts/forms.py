from datetime import date

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator

from .models import LedgerEntry


class PreferencesForm(forms.Form):
    payment_currency = forms.ChoiceField(
        label="Payment currency",
        help_text="The currency you pay online top-ups in. Your balance stays in your billing currency.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payment_currency"].choices = [(code, code) for code in settings.PAYMENT_CURRENCIES]


EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


def _bounded_date(label: str) -> forms.DateField:
    # Calendar edges (0001-01-01, 9999-12-31) would overflow when turned into a day's bounds.
    return forms.DateField(
        required=False,
        label=label,
        widget=forms.DateInput(attrs={"type": "date", "min": EARLIEST.isoformat(), "max": LATEST.isoformat()}),
        validators=[MinValueValidator(EARLIEST), MaxValueValidator(LATEST)],
    )


class DateRangeFilterForm(forms.Form):
    """An inclusive From–To date filter for record pages (see selectors.within_days)."""

    date_from = _bounded_date("From")
    date_to = _bounded_date("To")

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data


class StatementFilterForm(DateRangeFilterForm):
    kind = forms.ChoiceField(choices=[("", "All types"), *LedgerEntry.Kind.choices], required=False)
    field_order = ["kind", "date_from", "date_to"]
