"""The forms of finance's ticket actions: the figures a clerk confirms from the bank statement, the
checker's word when sending a proposal back, the message with a request for information or a rejection."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from djmoney.money import Money

from accounts.forms import amount_from_form
from billing_center.text import PlainTextField
from money.formatting import format_money

from ..models import TransferTicket


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
        self.ticket = ticket
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

    def _differs_from_declared(self) -> bool:
        """The typed amount, in the declared currency, is not the declared amount (another currency is converted
        and cannot be compared; an amount that does not parse is refused by clean)."""
        currency = self.data.get(self.add_prefix("received_currency"), "")
        if currency != str(self.ticket.amount.currency):
            return False
        try:
            typed = amount_from_form(self.data.get(self.add_prefix("received_amount"), ""), currency)
        except forms.ValidationError:
            return False
        return typed != self.ticket.amount.amount

    def clean(self):
        data = super().clean()
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
