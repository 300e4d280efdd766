from datetime import date
from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from money.errors import Invalid
from money.parsing import is_digits, parse_amount

from . import deposits
from .deposits import RecordStatus
from .models import LedgerEntry


def amount_from_form(raw: str, currency: str) -> Decimal:
    """money.parsing.parse_amount for a form field: its refusal becomes the field's error."""
    try:
        return parse_amount(raw, currency)
    except Invalid as exc:
        raise forms.ValidationError(exc.message) from None


def threshold_from_form(raw: str, currency: str) -> Decimal:
    """A balance threshold: an amount, or zero ("below zero": when the account goes into arrears)."""
    whole, dot, fraction = raw.strip().partition(".")
    if is_digits(whole) and (not dot or is_digits(fraction)) and Decimal(raw) == 0:
        return Decimal(0)
    return amount_from_form(raw, currency)


class PreferencesForm(forms.Form):
    payment_currency = forms.ChoiceField(
        label=_("Payment currency"),
        help_text=_("The currency you pay online top-ups in. Your balance stays in your billing currency."),
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

    date_from = _bounded_date(_("From"))
    date_to = _bounded_date(_("To"))

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data

    def export_filename(self, what: str, account_id: int) -> str:
        """A CSV's name that says which filter produced it, e.g.
        statement-7-usage-2026-11-01-to-2026-11-30.csv; "all" when nothing was chosen."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        choices = [data[name] for name in self.fields if name not in ("date_from", "date_to") and data.get(name)]
        first, last = data.get("date_from"), data.get("date_to")
        dates = [f"{first or 'start'}-to-{last or 'today'}"] if first or last else []
        return "-".join([what, str(account_id), *(choices or ["all"]), *dates]) + ".csv"


class DepositFilterForm(DateRangeFilterForm):
    """Top-up records: by money-in method (each registered source) and status."""

    method = forms.ChoiceField(label=_("Method"), required=False)
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All statuses")), *RecordStatus.choices], required=False
    )
    field_order = ["method", "status", "date_from", "date_to"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["method"].choices = [("", _("All methods")), *((s.method, s.label) for s in deposits.sources())]


class StatementFilterForm(DateRangeFilterForm):
    kind = forms.ChoiceField(label=_("Type"), choices=[("", _("All types")), *LedgerEntry.Kind.choices], required=False)
    field_order = ["kind", "date_from", "date_to"]


class LimitAlertForm(forms.Form):
    """A postpaid account's alert: when what it owes passes a share of its credit limit."""

    enabled = forms.BooleanField(label=_("Alert me when I owe more than a share of my credit limit"), required=False)
    share = forms.CharField(label=_("Share of the credit limit"), max_length=3, required=False)

    def clean_share(self) -> int | None:
        raw = self.cleaned_data["share"].strip()
        if not raw:
            return None
        if not is_digits(raw, max_length=3) or not 1 <= int(raw) <= 100:
            raise forms.ValidationError(_("Enter a whole percentage between 1 and 100."))
        return int(raw)

    def clean(self):
        data = super().clean()
        if data.get("enabled") and data.get("share") is None and "share" not in self.errors:
            self.add_error("share", _("Enter the share of your credit limit to be alerted at."))
        return data


class AlertSettingsForm(forms.Form):
    enabled = forms.BooleanField(label=_("Send an alert when my balance falls below the threshold"), required=False)
    threshold = forms.CharField(label=_("Threshold"), max_length=20, required=False)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_threshold(self):
        raw = self.cleaned_data["threshold"].strip()
        if not raw:
            return None
        return threshold_from_form(raw, self.currency)

    def clean(self):
        data = super().clean()
        if data.get("enabled") and data.get("threshold") is None and "threshold" not in self.errors:
            self.add_error("threshold", _("Enter the balance below which you want a text message."))
        return data


class AlertPhoneForm(forms.Form):
    number = forms.CharField(
        label=_("Mobile number"), max_length=32, help_text=_("With the country code, e.g. +86 138 0013 8000.")
    )


class AlertEmailForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"), max_length=254)


class FundMoveForm(forms.Form):
    """Allocate to or reclaim from one member: the member, an amount, and the form's one-time key."""

    member = forms.CharField(widget=forms.HiddenInput, max_length=20)
    amount = forms.CharField(label=_("Amount"), max_length=20)
    # One per rendered form; see accounts.enterprise (a second submission finds the first move).
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_amount(self) -> Decimal:
        return amount_from_form(self.cleaned_data["amount"], self.currency)


class MemberSettingsForm(forms.Form):
    """The master's settings for one member: a monthly budget and where its alerts go."""

    member = forms.CharField(widget=forms.HiddenInput, max_length=20)
    budget = forms.CharField(label=_("Monthly budget"), max_length=20, required=False)
    alert_copy = forms.BooleanField(label=_("Send its low-balance alerts to our recipients too"), required=False)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def clean_budget(self) -> Decimal | None:
        """An amount above zero, or empty for no budget: 0 had been saved, and flagged the member as
        over budget at its first charge."""
        raw = self.cleaned_data["budget"].strip()
        if not raw:
            return None
        if threshold_from_form(raw, self.currency) == 0:
            raise forms.ValidationError(_("A budget must be more than zero; leave it empty for no budget."))
        return amount_from_form(raw, self.currency)
