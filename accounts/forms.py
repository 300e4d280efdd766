import re
from datetime import date
from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator

from money.formatting import minor_places

from .models import LedgerEntry

# Plain ASCII digits and the currency's decimals. Decimal() alone would accept "1e3",
# "NaN", full-width digits and surrounding junk, none of which is an amount a person typed.
DIGITS = re.compile(r"[0-9]{1,12}(?:\.[0-9]+)?", re.ASCII)


def parse_amount(raw: str, currency: str) -> Decimal:
    """A positive amount as a person types it, with no more decimals than `currency` has."""
    raw = raw.strip()
    places = minor_places(currency)
    example = "100" if places == 0 else "100 or 99.50"
    if "," in raw:
        raise forms.ValidationError("Use a dot for decimals and no thousands separators, e.g. 1250.50.")
    if raw.startswith("-"):
        raise forms.ValidationError("The amount must be positive.")
    if not DIGITS.fullmatch(raw):
        raise forms.ValidationError(f"Enter the amount in digits, e.g. {example}.")
    if len(raw.partition(".")[2]) > places:
        if places == 0:
            raise forms.ValidationError(f"{currency} has no minor unit: enter a whole number, e.g. 100.")
        raise forms.ValidationError(f"Enter the amount with at most {places} decimals, e.g. {example}.")
    amount = Decimal(raw)
    if amount <= 0:
        raise forms.ValidationError("The amount must be greater than zero.")
    return amount


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


class AlertSettingsForm(forms.Form):
    enabled = forms.BooleanField(label="Send an alert when my balance falls below the threshold", required=False)
    threshold = forms.CharField(label="Threshold", max_length=20, required=False)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_threshold(self):
        raw = self.cleaned_data["threshold"].strip()
        if not raw:
            return None
        if DIGITS.fullmatch(raw) and Decimal(raw) == 0:
            return Decimal(0)  # "below zero": an alert when the account goes into arrears
        return parse_amount(raw, self.currency)

    def clean(self):
        data = super().clean()
        if data.get("enabled") and data.get("threshold") is None and "threshold" not in self.errors:
            self.add_error("threshold", "Enter the balance below which you want a text message.")
        return data


class AlertPhoneForm(forms.Form):
    number = forms.CharField(
        label="Mobile number", max_length=32, help_text="With the country code, e.g. +86 138 0013 8000."
    )


class AlertEmailForm(forms.Form):
    email = forms.EmailField(label="E-mail address", max_length=254)
