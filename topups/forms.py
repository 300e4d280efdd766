from decimal import Decimal

from django import forms

from accounts.forms import amount_from_form


class OnlineTopUpForm(forms.Form):
    amount = forms.CharField(
        label="Top-up amount",
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": "100.00"}),
    )
    # One per rendered form; see topups.checkout.create_topup.
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)
    # The currency the page asked for the amount in: a form loaded before a Switch Currency
    # in another tab must not be charged in the new currency.
    currency = forms.CharField(widget=forms.HiddenInput, max_length=3, required=False)
    # The signed exchange-rate quote the page showed (money.rates), when paying in another currency.
    quote = forms.CharField(widget=forms.HiddenInput, max_length=2000, required=False)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_amount(self) -> Decimal:
        return amount_from_form(self.cleaned_data["amount"], self.currency)

    def clean_request_key(self) -> str:
        return self.cleaned_data["request_key"].strip()
