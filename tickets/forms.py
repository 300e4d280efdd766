import re
from datetime import timedelta

from django import forms
from django.conf import settings
from django.db.models import Case, F, When
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.forms import amount_from_form
from billing_center.text import PlainTextField
from bills.models import Bill

from .certificates import MAX_CERTIFICATES_PER_TICKET, check_certificate
from .exceptions import CertificateRejected
from .models import Invoice, ReceivingAccount
from .references import parse_payment_reference, payment_reference
from .selectors import receiving_accounts_for

BANK_REFERENCE = re.compile(r"[A-Z0-9][A-Z0-9/\-.]{2,59}", re.ASCII)
PHONE = re.compile(r"\+?[0-9][0-9 ()\-]{5,24}", re.ASCII)
OLDEST_TRANSFER_DAYS = 366


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class CertificatesField(forms.FileField):
    """1–5 files, each checked by content (tickets.certificates); errors name the file."""

    widget = MultipleFileInput(attrs={"accept": "application/pdf,image/png,image/jpeg"})

    def __init__(self, *args, minimum: int = 1, **kwargs):
        self.minimum = minimum
        super().__init__(*args, required=minimum > 0, **kwargs)

    def clean(self, data, initial=None):
        self.passed = []
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if len(files) < self.minimum:
            raise forms.ValidationError(gettext("Attach the bank transfer certificate (PDF, PNG or JPEG)."))
        if len(files) > MAX_CERTIFICATES_PER_TICKET:
            raise forms.ValidationError(
                gettext("Attach at most %(count)s files.") % {"count": MAX_CERTIFICATES_PER_TICKET}
            )
        checked, errors = [], []
        for upload in files:
            try:
                checked.append(check_certificate(upload))
            except CertificateRejected as exc:
                errors.append(exc.message)
        if errors:
            self.passed = checked  # kept for the corrected form beside the refused file (certificates_to_keep)
            raise forms.ValidationError(errors)
        return checked


class TransferTicketForm(forms.Form):
    """The Create Service Ticket page. The ticket is always recorded under the signed-in
    user's account; another recipient can only be asked for in Problem Description."""

    payer_name = PlainTextField(
        label=_("Payer name"), max_length=200, help_text=_("As it appears on your bank account.")
    )
    payer_bank = PlainTextField(label=_("Paying bank"), max_length=200)
    payer_account = PlainTextField(label=_("Paying account number"), max_length=60)
    amount = forms.CharField(
        label=_("Amount transferred"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    currency = forms.ChoiceField(label=_("Currency"))
    transfer_date = forms.DateField(label=_("Transfer date"), widget=forms.DateInput(attrs={"type": "date"}))
    bank_reference = forms.CharField(
        label=_("Bank serial / reference number"),
        max_length=60,
        help_text=_("The transaction number on your certificate."),
    )
    receiving_account = forms.ModelChoiceField(
        label=_("Paid to"),
        queryset=ReceivingAccount.objects.none(),
        empty_label=None,
        help_text=_("Our account your receipt names, by its last digits; Pay › Bank Transfer shows it in full."),
    )
    invoice_number = forms.CharField(label=_("Invoice number"), max_length=30, required=False)
    bill_number = forms.CharField(
        label=_("Bill number"), max_length=30, required=False, help_text=_("The bill this transfer repays (postpaid).")
    )
    payment_reference = forms.CharField(
        label=_("Payment reference"),
        max_length=40,
        required=False,
        help_text=_("The RF reference you put in the remark."),
    )
    contact_name = PlainTextField(label=_("Contact name"), max_length=200)
    contact_email = forms.EmailField(label=_("Contact e-mail"), max_length=254)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=30, required=False)
    problem_description = PlainTextField(
        multiline=True,
        label=_("Problem Description"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Optional. Special circumstances, e.g. the money is for another account, or you paid with a "
            "different reference."
        ),
    )
    certificates = CertificatesField(
        label=_("Bank transfer certificate"), help_text=_("PDF, PNG or JPEG, up to 10 MB each, 1–5 files.")
    )
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False, strip=True)

    def __init__(self, *args, account, held=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        self.held = list(held)  # certificates kept from an earlier try (tickets.held_certificates)
        if self.held:
            self.fields["certificates"].minimum = 0
            self.fields["certificates"].required = False
        self.fields["currency"].choices = [(code, code) for code in settings.PAYMENT_CURRENCIES]
        current_first = F("retired_at").desc(nulls_first=True)  # then the most recently retired
        # The account's own currency first: the one offered unless the customer picks another (it had been CNY's,
        # first by name, beside the USD a USD customer's currency field showed).
        own_currency_first = Case(When(currency=account.billing_currency, then=0), default=1)
        self.fields["receiving_account"].queryset = receiving_accounts_for(account).order_by(
            current_first, own_currency_first, "currency"
        )
        self.fields["receiving_account"].label_from_instance = _receiving_label
        if not account.is_postpaid:
            del self.fields["bill_number"]  # only postpaid accounts have bills to repay
        style_inputs(self)

    def clean_bank_reference(self) -> str:
        reference = re.sub(r"\s+", "", self.cleaned_data["bank_reference"]).upper()
        if not BANK_REFERENCE.fullmatch(reference):
            raise forms.ValidationError(
                gettext("Enter the reference as printed on the certificate: letters, digits, - / .")
            )
        return reference

    def clean_transfer_date(self):
        value = self.cleaned_data["transfer_date"]
        today = timezone.localdate()
        if value > today + timedelta(days=1):
            raise forms.ValidationError(gettext("The transfer date is in the future."))
        if value < today - timedelta(days=OLDEST_TRANSFER_DAYS):
            raise forms.ValidationError(gettext("Transfers older than a year are handled by support, not by a ticket."))
        return value

    def clean_invoice_number(self) -> Invoice | None:
        number = self.cleaned_data["invoice_number"].strip().upper()
        if not number:
            return None
        invoice = (
            Invoice.objects.filter(account=self.account, number=number).select_related("receiving_account").first()
        )
        if invoice is None:
            raise forms.ValidationError(
                gettext("There is no invoice %(number)s on your account. Check the number on the invoice.")
                % {"number": number}
            )
        return invoice

    def clean_bill_number(self) -> Bill | None:
        number = self.cleaned_data["bill_number"].strip().upper()
        if not number:
            return None
        bill = Bill.objects.filter(account=self.account, number=number).first()
        if bill is None:
            raise forms.ValidationError(
                gettext("There is no bill %(number)s on your account. Check the number on the bill.")
                % {"number": number}
            )
        return bill

    def clean_payment_reference(self) -> str:
        text = self.cleaned_data["payment_reference"].strip()
        if not text:
            return ""
        try:
            reference = parse_payment_reference(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if reference != payment_reference(self.account.pk):
            raise forms.ValidationError(
                gettext(
                    "This reference belongs to another account. If you paid with it, leave this empty and explain "
                    "in Problem Description."
                )
            )
        return reference

    def clean_contact_phone(self) -> str:
        phone = self.cleaned_data["contact_phone"].strip()
        if phone and not PHONE.fullmatch(phone):
            raise forms.ValidationError(gettext("Enter a phone number in digits, e.g. +86 10 1234 5678."))
        return phone

    def clean(self):
        data = super().clean()
        if "amount" in data and "currency" in data:
            try:
                data["amount"] = amount_from_form(data["amount"], data["currency"])
            except forms.ValidationError as exc:
                self.add_error("amount", exc)
        if len(data.get("certificates") or []) + len(self.held) > MAX_CERTIFICATES_PER_TICKET:
            self.add_error(
                "certificates",
                gettext("Attach at most %(count)s files, counting those already attached.")
                % {"count": MAX_CERTIFICATES_PER_TICKET},
            )
        return data

    def certificates_to_keep(self) -> list:
        """After a refusal, the checked files to hold for the corrected form: all of them when another field was
        wrong, and those that passed when another file was refused (the customer re-attaches only that one)."""
        if "certificates" in self.cleaned_data:
            return self.cleaned_data.pop("certificates")
        return self.fields["certificates"].passed  # none when the count was refused


def style_inputs(form: forms.Form) -> None:
    for name, field in form.fields.items():
        field.widget.attrs.setdefault("class", "input")
        if name in form.errors:
            field.widget.attrs["class"] += " invalid"
            field.widget.attrs["aria-invalid"] = "true"


def _receiving_label(account: ReceivingAccount) -> str:
    retired = " · " + gettext("retired") if account.retired_at else ""  # still accepted: finance's window
    # The last digits, as the invoices list names it: the whole IBAN had been cut off on a phone.
    return f"{account.bank_name} · {account.currency} …{account.last_digits}{retired}"


class TicketReplyForm(forms.Form):
    body = PlainTextField(
        label=_("Message"), multiline=True, max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    certificates = CertificatesField(
        label=_("Add certificates"), minimum=0, help_text=_("Optional. PDF, PNG or JPEG, up to 10 MB.")
    )

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("body", "").strip() and not data.get("certificates"):
            raise forms.ValidationError(gettext("Write a reply or attach a certificate."))
        return data

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        style_inputs(self)
