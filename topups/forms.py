from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.forms import amount_from_form, threshold_from_form


class OnlineTopUpForm(forms.Form):
    amount = forms.CharField(
        label=_("Top-up amount"),
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


class AutoTopUpForm(forms.Form):
    """Auto top-up settings, every amount in the account's billing currency."""

    enabled = forms.BooleanField(label=_("Top up automatically"), required=False)
    threshold = forms.CharField(label=_("When my balance falls below"), max_length=20)
    amount = forms.CharField(label=_("Top up"), max_length=20)
    daily_ceiling = forms.CharField(label=_("At most per day"), max_length=20)
    monthly_ceiling = forms.CharField(label=_("At most per month"), max_length=20)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        for name in ("threshold", "amount", "daily_ceiling", "monthly_ceiling"):
            self.fields[name].widget.attrs.update(inputmode="decimal", autocomplete="off")
            self.fields[name].help_text = currency

    def clean_threshold(self) -> Decimal:
        return threshold_from_form(self.cleaned_data["threshold"], self.currency)

    def clean_amount(self) -> Decimal:
        return amount_from_form(self.cleaned_data["amount"], self.currency)

    def clean_daily_ceiling(self) -> Decimal:
        return amount_from_form(self.cleaned_data["daily_ceiling"], self.currency)

    def clean_monthly_ceiling(self) -> Decimal:
        return amount_from_form(self.cleaned_data["monthly_ceiling"], self.currency)


class RepaymentForm(forms.Form):
    """The Repay page: the bills to pay (default all, oldest first) or an amount."""

    bills = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    amount = forms.CharField(label=_("Or pay an amount"), max_length=20, required=False)
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)

    def __init__(self, *args, bills, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["bills"].choices = [(str(bill.pk), bill.number) for bill in bills]

    def clean_bills(self) -> list[int]:
        return [int(pk) for pk in self.cleaned_data["bills"]]  # only offered choices get here

    def clean_amount(self) -> Decimal | None:
        raw = self.cleaned_data["amount"].strip()
        return amount_from_form(raw, self.currency) if raw else None

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("bills") and data.get("amount") is None:
            raise forms.ValidationError(_("Choose the bills to pay, or enter an amount."))
        return data
