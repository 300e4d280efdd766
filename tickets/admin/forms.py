"""The forms of finance's ticket actions: the figures a clerk confirms from the bank statement, the
checker's word when sending a proposal back, the message with a request for information or a rejection; and of
its statement pages: the upload, the account a line is assigned to, why a line is set aside."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from djmoney.money import Money

from accounts.descriptions import rate_text
from accounts.forms import amount_from_form
from accounts.models import Account
from billing_center.moments import moment
from billing_center.text import PlainTextField
from money.formatting import format_money
from money.rates import RateUnavailable, current_quote

from ..models import ReceivingAccount, StatementFile, StatementLine, TransferTicket
from ..statements.setting_aside import NOTE_LENGTH


class CheckedOnTheServer(forms.CheckboxInput):
    """A box the browser does not insist on: correcting the amount to the declared one makes it unneeded, and the
    browser's `required` would still have blocked the form (the server asks for it while it is needed)."""

    def use_required_attribute(self, initial):
        return False


class ConfirmCreditForm(forms.Form):
    received_amount = forms.CharField(label=gettext_lazy("Amount received"), max_length=20)
    received_currency = forms.ChoiceField(label=gettext_lazy("Currency"))
    bank_reference = PlainTextField(label=gettext_lazy("Bank reference on our statement"), max_length=60)

    duplicate_checked = forms.BooleanField(
        label=gettext_lazy("I checked the possible duplicate: this is a different transfer"), required=True
    )

    def __init__(self, *args, ticket: TransferTicket, **kwargs):
        super().__init__(*args, **kwargs)
        self.ticket, self.rate_problem = ticket, ""
        self.fields["received_currency"].choices = [(c, c) for c in settings.CURRENCIES]
        if not ticket.possible_duplicate:
            del self.fields["duplicate_checked"]
        if self.is_bound and self._differs_from_declared():
            # Asked only when it differs: a mistyped amount (a digit too many) is caught before it is proposed.
            declared = format_money(ticket.amount)
            self.fields["amount_checked"] = forms.BooleanField(
                widget=CheckedOnTheServer,
                label=_("The customer declared %(declared)s: I checked the amount against our statement")
                % {"declared": declared},
                error_messages={
                    "required": _(
                        "This is not the %(declared)s the customer declared. Check it against our statement, "
                        "then tick the box to go on."
                    )
                    % {"declared": declared}
                },
            )
        if self.is_bound:
            self._ask_to_check_conversion()

    def _ask_to_check_conversion(self) -> None:
        """Money in another currency than the account's is credited at today's stored rate: before anything
        is written the clerk sees what it credits, and ticks that they checked it. The preview goes back with
        the page; a tick given for another amount or rate (the sheet changed meanwhile) does not count."""
        received, billing = self._typed(), self.ticket.account.billing_currency
        if received is None or str(received.currency) == billing:
            return
        try:
            quote = current_quote(billing_currency=billing, payment_currency=str(received.currency))
        except RateUnavailable:
            self.rate_problem = _(
                "There is no current rate from %(paid)s to %(billing)s to convert at: put today's on the "
                "exchange-rate sheet first."
            ) % {"paid": received.currency, "billing": billing}
            return
        credit = quote.credit_for(received)
        if credit.amount <= 0:
            self.rate_problem = _("The amount received is too small to credit anything.")
            return
        preview, key = (
            f"{received.amount} {received.currency} {credit.amount} {quote.rate}",
            self.add_prefix("previewed"),
        )
        seen = self.data.get(key) == preview
        self.data = self.data.copy()  # the page shown again carries this preview
        self.data[key] = preview
        if not seen:
            self.data.pop(self.add_prefix("conversion_checked"), None)
        rate = rate_text(quote.rate, str(received.currency), billing)
        names = {
            "credit": format_money(credit),
            "rate": rate,
            "source": quote.source_label,
            "as_of": moment(quote.as_of),
        }
        self.fields["previewed"] = forms.CharField(widget=forms.HiddenInput, required=False)
        self.fields["conversion_checked"] = forms.BooleanField(
            widget=CheckedOnTheServer,
            label=_("This credits %(credit)s at %(rate)s (%(source)s, %(as_of)s): I checked it") % names,
            error_messages={
                "required": _("Check what this credits in %(billing)s, then tick the box to go on.")
                % {"billing": billing}
            },
        )

    def _typed(self) -> Money | None:
        """The amount and currency as typed, or None while they do not parse (clean says why)."""
        currency = self.data.get(self.add_prefix("received_currency"), "")
        if currency not in settings.CURRENCIES:
            return None
        try:
            return Money(amount_from_form(self.data.get(self.add_prefix("received_amount"), ""), currency), currency)
        except forms.ValidationError:
            return None

    def _differs_from_declared(self) -> bool:
        """What was typed is not what the customer declared: another amount, or another currency (700.00 USD
        typed for 700.00 CNY declared had credited 700 USD with no question). An amount that does not parse
        is refused by clean."""
        typed = self._typed()
        return typed is not None and typed != self.ticket.amount

    def clean(self):
        data = super().clean()
        if self.rate_problem:
            self.add_error("received_currency", self.rate_problem)
        if "received_amount" in data and "received_currency" in data:
            try:
                data["received"] = Money(
                    amount_from_form(data["received_amount"], data["received_currency"]), data["received_currency"]
                )
            except forms.ValidationError as exc:
                self.add_error("received_amount", exc)
        return data


class SendBackForm(forms.Form):
    why = PlainTextField(
        label=gettext_lazy("Why (for the maker; kept in the internal thread)"),
        multiline=True,
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ReasonForm(forms.Form):
    reason = PlainTextField(
        label=gettext_lazy("Message to the customer"),
        multiline=True,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class UploadForm(forms.Form):
    receiving_account = forms.ModelChoiceField(
        queryset=ReceivingAccount.objects.all(),
        label=gettext_lazy("Receiving account"),
        help_text=gettext_lazy("The account of ours this statement is for."),
    )
    file = forms.FileField(
        label=gettext_lazy("Statement file"), help_text=gettext_lazy("camt.053 (ISO 20022 XML), MT940, or CSV.")
    )
    format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=[("", gettext_lazy("Recognise it")), *StatementFile.Format.choices],
        required=False,
        help_text=gettext_lazy(
            "A CSV is read with the columns saved for the receiving account (Statement CSV formats)."
        ),
    )


class AssignForm(forms.Form):
    """The account a line goes to, by number or name (it had asked for the number only; found by a helper)."""

    account_id = forms.CharField(label=gettext_lazy("Account (number or name)"), max_length=200)

    def clean_account_id(self) -> int:
        given = self.cleaned_data["account_id"].strip().removeprefix("#").strip()
        if given.isdigit():
            return int(given)
        named = list(Account.objects.filter(name__iexact=given).order_by("pk").values_list("pk", flat=True)[:6])
        if not named:
            raise forms.ValidationError(_("No account has the number or name %(given)s.") % {"given": given})
        if len(named) > 1:  # a name several accounts bear: their numbers
            several = _("Several accounts are named %(given)s (%(numbers)s): give its number.")
            raise forms.ValidationError(several % {"given": given, "numbers": ", ".join(f"#{pk}" for pk in named)})
        return named[0]


class SetAsideForm(forms.Form):
    reason = forms.ChoiceField(
        label=gettext_lazy("What became of the money"),
        choices=[(key, label) for key, label in StatementLine.SetAside.choices if key],
        widget=forms.RadioSelect,
    )
    note = PlainTextField(
        label=gettext_lazy("Why (kept on the line)"),
        max_length=NOTE_LENGTH,
        multiline=True,  # one paragraph: line breaks are folded into spaces when it is kept
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=gettext_lazy(
            "For example: returned on 12 May, our reference R-1234; or: the bank's interest for April."
        ),
    )
