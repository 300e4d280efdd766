import re
from decimal import Decimal

from django import forms

from accounts.forms import DateRangeFilterForm

from .models import TopUp
from .rates import minor_places

# Plain ASCII digits and the currency's decimals. Decimal() alone would accept "1e3",
# "NaN", full-width digits and surrounding junk, none of which is an amount a person typed.
DIGITS = re.compile(r"[0-9]{1,12}(?:\.[0-9]+)?", re.ASCII)


class OnlineTopUpForm(forms.Form):
    amount = forms.CharField(
        label="Top-up amount",
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "100.00"}),
    )
    # One per rendered form; see topups.services.create_topup.
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)
    # The currency the page asked for the amount in: a form loaded before a Switch Currency
    # in another tab must not be charged in the new currency.
    currency = forms.CharField(widget=forms.HiddenInput, max_length=3, required=False)
    # The signed exchange-rate quote the page showed (topups.rates), when paying in another currency.
    quote = forms.CharField(widget=forms.HiddenInput, max_length=2000, required=False)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_amount(self) -> Decimal:
        raw = self.cleaned_data["amount"].strip()
        places = minor_places(self.currency)
        example = "100" if places == 0 else "100 or 99.50"
        if "," in raw:
            raise forms.ValidationError("Use a dot for decimals and no thousands separators, e.g. 1250.50.")
        if raw.startswith("-"):
            raise forms.ValidationError("The amount must be positive.")
        if not DIGITS.fullmatch(raw):
            raise forms.ValidationError(f"Enter the amount in digits, e.g. {example}.")
        decimals = len(raw.partition(".")[2])
        if decimals > places:
            if places == 0:
                raise forms.ValidationError(f"{self.currency} has no minor unit: enter a whole number, e.g. 100.")
            raise forms.ValidationError(f"Enter the amount with at most {places} decimals, e.g. {example}.")
        amount = Decimal(raw)
        if amount <= 0:
            raise forms.ValidationError("The amount must be greater than zero.")
        return amount

    def clean_request_key(self) -> str:
        return self.cleaned_data["request_key"].strip()


class TopUpFilterForm(DateRangeFilterForm):
    METHODS = [("", "All methods"), ("online", "Online payment"), ("bank_transfer", "Bank transfer")]

    method = forms.ChoiceField(choices=METHODS, required=False)
    status = forms.ChoiceField(choices=[("", "All statuses"), *TopUp.Status.choices], required=False)
    field_order = ["method", "status", "date_from", "date_to"]
