"""Finance's payments in Django admin: top-ups (asking the gateway, refunding), refunds, disputes and the
gateway's deliveries."""

import uuid

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from djmoney.money import Money

from accounts.descriptions import describe, known_messages, rate_text
from accounts.forms import amount_from_form
from billing_center.admin_base import ReadOnlyAdmin, ReviewFlagMixin, confirmation_page, yes_no
from billing_center.admin_log import log_done
from billing_center.text import PlainTextField
from money.errors import BillingError
from money.formatting import format_money, plain_amount

from .models import Dispute, Refund, TopUp, WebhookDelivery
from .reconcile import reconcile_topup
from .refunds import REFUND_PERMISSION, dispute_refused, repayment_refused, request_refund, send_refund
from .shares import billing_share, refundable

# What finance's actions on payments leave in admin's audit trail (billing_center.admin_log), in the reader's language.
ASKED_PAID = gettext_noop("Asked the gateway: paid; %(amount)s credited")
ASKED_NOT_PAID = gettext_noop("Asked the gateway: not paid; the top-up is closed")
REFUNDED = gettext_noop("Refunded %(amount)s (%(refund)s): %(reason)s")
REFUND_SENT = gettext_noop("Refund of %(amount)s (%(refund)s) sent to the gateway: %(reason)s")
# A refund asked of the gateway again, by what it answered.
ASKED_AGAIN = {
    Refund.Status.SUCCEEDED: gettext_noop("Asked the gateway again: refunded"),
    Refund.Status.PENDING: gettext_noop("Asked the gateway again: pending at the gateway"),
    Refund.Status.FAILED: gettext_noop("Asked the gateway again: it refused the refund"),
}
known_messages(ASKED_PAID, ASKED_NOT_PAID, REFUNDED, REFUND_SENT, *ASKED_AGAIN.values())


class RefundForm(forms.Form):
    amount = forms.CharField(label=gettext_lazy("Amount to refund"), max_length=20)
    # Finance says why money goes back (the customer asked, a duplicate payment): it stays on the refund's record.
    reason = PlainTextField(
        label=gettext_lazy("Reason"),
        multiline=True,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": gettext_lazy("Say why the money goes back: it stays on the refund's record.")},
    )
    override = forms.BooleanField(
        label=gettext_lazy("Refund even if it takes the balance below zero"),
        required=False,
        help_text=gettext_lazy("Only with a reason: the customer then owes the difference."),
    )
    # One per rendered form (topups.refunds.request_refund): a double click finds the refund the first click asked for.
    request_key = forms.CharField(
        widget=forms.HiddenInput,
        max_length=64,
        error_messages={"required": gettext_lazy("This form is out of date: choose the top-up and Refund again.")},
    )

    def __init__(self, *args, topup: TopUp, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = str(topup.amount.currency)
        self.fields["amount"].help_text = _("In %(currency)s, the currency the customer paid in.") % {
            "currency": self.currency
        }

    def clean_amount(self) -> Money:
        return Money(amount_from_form(self.cleaned_data["amount"], self.currency), self.currency)


class ReadOnlyInline(admin.TabularInline):
    """Rows written by services, shown on their top-up's page."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False


class RefundInline(ReviewFlagMixin, ReadOnlyInline):
    model = Refund
    fields = ("ref", "amount", "debit_amount", "status", "origin", "review", "reason", "created_at")

    @admin.display(description=gettext_lazy("Reference"))
    def ref(self, obj):
        return obj.reference

    show_change_link = True


class DisputeInline(ReadOnlyInline):
    model = Dispute
    fields = ("gateway_dispute_id", "amount", "debit_amount", "status", "reason", "opened_at", "closed_at")


@admin.register(TopUp)
class TopUpAdmin(ReviewFlagMixin, ReadOnlyAdmin):
    list_display = (
        "reference",
        "account",
        "amount",
        "credited",
        "status",
        "gateway",
        "automatic",
        "review",
        "created_at",
    )
    list_filter = ("status", "is_automatic", "needs_review", "gateway")
    list_select_related = ("account",)
    search_fields = ("public_id", "gateway_session_id", "account__name")
    date_hierarchy = "created_at"
    actions = ["reconcile_with_gateway", "refund", "mark_reviewed"]
    inlines = [RefundInline, DisputeInline]
    readonly_fields = ("automatic", "review")

    def get_fields(self, request, obj=None):
        # The two flags through yes_no: Django's own icon says "True"/"False" in English.
        flags = {"is_automatic": "automatic", "needs_review": "review"}
        return [flags.get(name, name) for name in super().get_fields(request, obj) if name not in flags.values()]

    @admin.display(description=gettext_lazy("Reference"), ordering="public_id")
    def reference(self, obj):
        return obj.reference

    @admin.display(description=gettext_lazy("Credited"), ordering="credit_amount")
    def credited(self, obj):
        """What reached the balance: nothing for a payment that never went through (the list had shown the
        amount each would have credited, beside Cancelled and Failed)."""
        return obj.credit_amount if obj.status == TopUp.Status.CREDITED else None

    @admin.display(description=gettext_lazy("is automatic"), ordering="is_automatic")
    def automatic(self, obj):
        return yes_no(obj.is_automatic)

    def get_search_results(self, request, queryset, search_term):
        # Customers quote "TU-409FA5D74577": the first 12 hex digits of the public id.
        term = search_term.strip().upper().removeprefix("TU-")
        if len(term) == 12 and all(c in "0123456789ABCDEF" for c in term):
            # A range, not startswith: it works on native uuid columns and on SQLite's hex text alike.
            low, high = uuid.UUID(term + "0" * 20), uuid.UUID(term + "F" * 20)
            return queryset.filter(public_id__gte=low, public_id__lte=high), False
        return super().get_search_results(request, queryset, search_term)

    @admin.action(description=gettext_lazy("Ask the gateway about the selected pending top-ups"), permissions=["view"])
    def reconcile_with_gateway(self, request, queryset):
        pending, credited = list(queryset.filter(status=TopUp.Status.PENDING)), 0
        for before in pending:
            after = reconcile_topup(topup_id=before.pk)
            credited += after.status == TopUp.Status.CREDITED
            if after.status != before.status:  # asked, and the gateway's answer closed it
                paid = after.status == TopUp.Status.CREDITED
                said = describe(ASKED_PAID, amount=after.credit_amount) if paid else describe(ASKED_NOT_PAID)
                log_done(request, after, said, before=before)
        self.message_user(
            request,
            _("Checked %(count)s pending top-up(s) with the gateway; %(credited)s credited.")
            % {"count": len(pending), "credited": credited},
            messages.SUCCESS,
        )

    @admin.action(description=gettext_lazy("Refund the selected credited top-up…"), permissions=["refund"])
    def refund(self, request, queryset):
        """One top-up at a time: the amount, a reason, and the override if the balance is short."""
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one top-up to refund."), messages.ERROR)
            return None
        topup = queryset.select_related("account").get()
        if topup.status != TopUp.Status.CREDITED:
            self.message_user(
                request,
                _("%(reference)s is not credited: there is nothing to refund.") % {"reference": topup.reference},
                messages.ERROR,
            )
            return None
        if topup.repays_bills:  # said before the form, which had offered an amount it then refused
            self.message_user(request, repayment_refused(topup), messages.ERROR)
            return None
        if disputed := dispute_refused(topup):
            self.message_user(request, disputed, messages.ERROR)
            return None
        confirmed = request.POST.get("post") == "yes"
        form = RefundForm(request.POST if confirmed else None, topup=topup, initial={"amount": ""})
        if not confirmed:
            form.initial |= {"amount": plain_amount(refundable(topup)), "request_key": uuid.uuid4().hex}
        elif form.is_valid():
            data = form.cleaned_data
            sent_before = topup.refunds.filter(request_key=data["request_key"]).exists()  # the form sent again
            try:
                refund = request_refund(
                    topup_id=topup.pk,
                    amount=data["amount"],
                    reason=data["reason"],
                    override=data["override"],
                    request_key=data["request_key"],
                    actor=request.user,
                )
            except BillingError as exc:
                form.add_error(None, exc.message)
            else:
                if refund.status == Refund.Status.SUCCEEDED:
                    done = _("%(refund)s: %(amount)s of %(topup)s refunded.")
                else:
                    done = _("%(refund)s: %(amount)s of %(topup)s sent to the gateway.")
                values = {"refund": refund.reference, "amount": format_money(refund.amount), "topup": topup.reference}
                self.message_user(request, done % values, messages.SUCCESS)
                if not sent_before:  # on the refund and on its top-up's History
                    refunded = REFUNDED if refund.status == Refund.Status.SUCCEEDED else REFUND_SENT
                    said = describe(refunded, amount=refund.amount, refund=refund.reference, reason=refund.reason)
                    log_done(request, refund, said, added=True)
                    log_done(request, topup, said)
                return None
        title = _("Refund %(reference)s") % {"reference": topup.reference}
        return confirmation_page(
            self,
            request,
            "admin/topups/topup/refund.html",
            action_title=title,
            title=title,
            topup=topup,
            refundable=refundable(topup),
            # A converted top-up's balance is debited in its billing currency, at the rate it locked: said before
            # the clerk confirms (only the paying currency's amount had been shown; found by a helper).
            debit_of_all=billing_share(topup, refundable(topup)) if topup.is_converted else None,
            rate=rate_text(topup.exchange_rate, topup.amount.currency, topup.credit_amount.currency)
            if topup.is_converted
            else "",
            form=form,
        )

    def has_refund_permission(self, request):
        return request.user.has_perm(REFUND_PERMISSION)


@admin.register(Refund)
class RefundAdmin(ReviewFlagMixin, ReadOnlyAdmin):
    list_display = ("ref", "topup", "amount", "debit_amount", "status", "origin", "review", "created_at")
    list_filter = ("status", "origin", "needs_review")
    actions = ["mark_reviewed", "send_again"]
    list_select_related = ("topup__account",)  # the review confirmation names each refund's account
    search_fields = ("gateway_refund_id", "topup__account__name")
    date_hierarchy = "created_at"

    @admin.display(description=gettext_lazy("Reference"))
    def ref(self, obj):
        return obj.reference

    @admin.action(
        description=gettext_lazy("Ask the gateway again for refunds it never answered"), permissions=["refund"]
    )
    def send_again(self, request, queryset):
        """A refund the gateway did not answer stays "requested" (and counts against the balance); asked again
        under its own idempotency key, the gateway makes it once or says what became of it."""
        waiting = list(queryset.filter(status=Refund.Status.REQUESTED))
        if not waiting:
            self.message_user(request, _("None of these refunds waits for the gateway."), messages.WARNING)
        for before in waiting:
            try:
                refund = send_refund(refund_id=before.pk)
            except BillingError as exc:
                self.message_user(request, f"{before.reference}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{refund.reference}: {refund.get_status_display()}", messages.SUCCESS)
                if refund.status in ASKED_AGAIN:  # answered: no longer waiting
                    log_done(request, refund, describe(ASKED_AGAIN[refund.status]), before=before)

    def has_refund_permission(self, request):
        return request.user.has_perm(REFUND_PERMISSION)


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = ("gateway_dispute_id", "topup", "amount", "debit_amount", "status", "reason", "opened_at")
    list_filter = ("status",)
    list_select_related = ("topup",)
    search_fields = ("gateway_dispute_id", "topup__account__name")
    date_hierarchy = "opened_at"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at", "gateway", "event_type", "event_id", "verdict", "delivery_count", "body_changed", "topup",
    )  # fmt: skip
    list_filter = ("verdict", "body_changed", "gateway", "event_type")
    list_select_related = ("topup",)
    search_fields = ("event_id",)
    date_hierarchy = "received_at"


from . import rates_admin  # noqa: E402,F401  (exchange rates: their own module)
