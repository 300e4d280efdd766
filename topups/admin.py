import uuid
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from djmoney.contrib.exchange.models import Rate
from djmoney.money import Money

from accounts.descriptions import rate_text
from accounts.forms import amount_from_form
from billing_center.admin_base import HistoryAdmin, ReadOnlyAdmin, ReviewFlagMixin, confirmation_page, yes_no
from billing_center.text import PlainTextField
from money.errors import BillingError
from money.formatting import format_money, plain_amount

from .models import Dispute, HistoricalRate, RateSheet, Refund, TopUp, WebhookDelivery
from .reconcile import reconcile_topup
from .refunds import (
    REFUND_PERMISSION,
    billing_share,
    dispute_refused,
    refundable,
    repayment_refused,
    request_refund,
    send_refund,
)


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
        pending = list(queryset.filter(status=TopUp.Status.PENDING).values_list("pk", flat=True))
        credited = sum(reconcile_topup(topup_id=pk).status == TopUp.Status.CREDITED for pk in pending)
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
        waiting = list(queryset.filter(status=Refund.Status.REQUESTED).values_list("pk", flat=True))
        if not waiting:
            self.message_user(request, _("None of these refunds waits for the gateway."), messages.WARNING)
        for refund_id in waiting:
            try:
                refund = send_refund(refund_id=refund_id)
            except BillingError as exc:
                reference = Refund.objects.get(pk=refund_id).reference
                self.message_user(request, f"{reference}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{refund.reference}: {refund.get_status_display()}", messages.SUCCESS)

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


# --- Exchange rates: finance keeps one rate sheet per source ---------------------------

admin.site.unregister(Rate)  # django-money's own admin cannot add rates to a sheet


# A rate finance types: within what any currency is worth against another (and what SQLite's decimals hold),
# and a move of more than a fifth from the saved one only with a tick. A mistyped 0.000001 for 7.1 had been
# saved, and a checkout opened at it credited 50,000.00 USD for 0.05 CNY (found by a helper).
RATE_RANGE = (Decimal("0.000001"), Decimal("1000000"))
RATE_MOVE = Decimal("1.2")


class RateForm(forms.ModelForm):
    checked = forms.BooleanField(required=False, label=gettext_lazy("checked: moves more than 20%"))

    class Meta:
        model = Rate
        fields = ("currency", "value")
        # django-money's fields have no translatable labels: the inline's headings come from here.
        labels = {"currency": gettext_lazy("currency"), "value": gettext_lazy("rate")}

    def clean_currency(self):
        code = self.cleaned_data["currency"].strip().upper()
        if code not in settings.CURRENCIES:
            raise forms.ValidationError(
                _("Use one of our currencies: %(currencies)s.") % {"currencies": ", ".join(settings.CURRENCIES)}
            )
        return code

    def clean_value(self):
        value = self.cleaned_data["value"]
        if value is None or value <= 0:
            raise forms.ValidationError(_("A rate must be greater than zero."))
        low, high = RATE_RANGE
        if not low <= value <= high:
            raise forms.ValidationError(
                _("A rate is between %(low)s and %(high)s units per unit of the base currency.")
                % {"low": low, "high": f"{high:,}"}
            )
        return value

    def clean(self):
        cleaned = super().clean()
        value, saved = cleaned.get("value"), self.instance.value if self.instance.pk else None
        if value and saved and not cleaned.get("checked") and not saved / RATE_MOVE <= value <= saved * RATE_MOVE:
            self.add_error(
                "value",
                _("This moves the rate from %(saved)s to %(value)s. If that is right, tick “checked” and save again.")
                % {"saved": saved.normalize(), "value": value.normalize()},
            )
        return cleaned


class RateInline(admin.TabularInline):
    model = Rate
    form = RateForm
    extra = 1
    verbose_name = gettext_lazy("rate")
    verbose_name_plural = gettext_lazy("rates: units of the currency per one unit of the sheet's base currency")


class RateSheetForm(forms.ModelForm):
    class Meta:
        model = RateSheet
        fields = ("name", "base_currency")
        labels = {"name": gettext_lazy("name"), "base_currency": gettext_lazy("base currency")}

    def clean_base_currency(self):
        code = self.cleaned_data["base_currency"].strip().upper()
        if code not in settings.CURRENCIES:  # "ZZZ" or "usd" had been saved, and every quote then failed
            raise forms.ValidationError(
                _("Use one of our currencies: %(currencies)s.") % {"currencies": ", ".join(settings.CURRENCIES)}
            )
        return code


@admin.register(RateSheet)
class RateSheetAdmin(HistoryAdmin):
    """Saving the sheet stamps its time: the "as of" every quote shows and the age it is judged by."""

    list_display = ("sheet", "base", "updated", "rate_count")
    form = RateSheetForm
    inlines = [RateInline]

    # django-money's ExchangeBackend names its fields without translatable labels.
    @admin.display(description=gettext_lazy("name"), ordering="name")
    def sheet(self, obj):
        return obj.name

    @admin.display(description=gettext_lazy("base currency"), ordering="base_currency")
    def base(self, obj):
        return obj.base_currency

    @admin.display(description=gettext_lazy("last update"), ordering="last_update")
    def updated(self, obj):
        # In the reader's format and time zone, as Django shows the field itself; a new sheet has none yet.
        return display_for_value(obj.last_update, self.get_empty_value_display())

    @admin.display(description=gettext_lazy("rates"))
    def rate_count(self, obj):
        return obj.rates.count()

    def get_fields(self, request, obj=None):
        # Read-only fields are labelled by the model's fields, which django-money leaves untranslated:
        # they are shown through the columns above instead.
        return ("name", "base_currency", "updated") if obj is None else ("sheet", "base_currency", "updated")

    def get_readonly_fields(self, request, obj=None):
        # The name is the sheet's key and the source every quote and top-up names.
        return ("updated",) if obj is None else ("sheet", "updated")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.instance.save()  # touch last_update even when only the rates changed


@admin.register(HistoricalRate)
class RateHistoryAdmin(ReadOnlyAdmin):
    """Every value a rate has had, when and by whom: what a quote's "as of" referred to."""

    list_display = ("history_date", "backend", "currency", "value", "history_type", "history_user")
    list_filter = ("backend", "currency")
    date_hierarchy = "history_date"
