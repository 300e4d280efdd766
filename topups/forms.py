import re
from decimal import Decimal

from django import forms
from django.conf import settings

# Plain ASCII digits with at most two decimals. Decimal() alone would accept "1e3",
# "NaN", full-width digits and surrounding junk, none of which is an amount a person typed.
AMOUNT_PATTERN = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?", re.ASCII)


class OnlineTopUpForm(forms.Form):
    amount = forms.CharField(
        label="Top-up amount",
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "100.00"}),
    )
    # One per rendered form; see topups.services.create_topup.
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_amount(self) -> Decimal:
        raw = self.cleaned_data["amount"].strip()
        if "," in raw:
            raise forms.ValidationError("Use a dot for decimals and no thousands separators, e.g. 1250.50.")
        if raw.startswith("-"):
            raise forms.ValidationError("The amount must be positive.")
        if not AMOUNT_PATTERN.fullmatch(raw):
            raise forms.ValidationError("Enter the amount in digits with at most two decimals, e.g. 100 or 99.50.")
        amount = Decimal(raw)
        if amount <= 0:
            raise forms.ValidationError("The amount must be greater than zero.")
        low, high = settings.TOPUP_MIN_AMOUNT, settings.TOPUP_MAX_AMOUNT
        if amount < low:
            raise forms.ValidationError(f"The minimum top-up is {low} {self.currency}.")
        if amount > high:
            raise forms.ValidationError(f"The maximum for one top-up is {high:,} {self.currency}.")
        return amount

    def clean_request_key(self) -> str:
        return self.cleaned_data["request_key"].strip()
