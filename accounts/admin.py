from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop, pgettext_lazy

from billing_center.admin_base import (
    AddedNotEditedMixin,
    BooleansInWordsMixin,
    HistoryAdmin,
    ReadOnlyAdmin,
    ReviewFlagMixin,
)
from billing_center.admin_log import log_done
from billing_center.privacy import mask_phone
from money.errors import BillingError

from .descriptions import describe, entry_description, known_messages
from .lifecycle import check_new_account, open_account
from .models import (
    Account,
    AlertRecipient,
    BalanceAlert,
    LedgerEntry,
    OutboundEmail,
    OutboundSms,
    ServiceToken,
    UsageCharge,
    User,
)
from .selectors import RECENT, created_within
from .usage_api.tokens import create_service_token, revoke_service_token


@admin.register(User)
class UserAdmin(BooleansInWordsMixin, DjangoUserAdmin):
    fieldsets = DjangoUserAdmin.fieldsets + ((gettext_lazy("Billing"), {"fields": ("account",)}),)
    list_display = ("username", "email", "account", "is_staff")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)


class AccountAddForm(forms.ModelForm):
    """New accounts choose their one billing currency; it never changes afterwards."""

    billing_currency = forms.ChoiceField(
        label=gettext_lazy("Billing currency"), choices=[(code, code) for code in settings.BILLING_CURRENCIES]
    )

    class Meta:
        model = Account
        fields = ("name", "type", "enterprise_master")

    def clean(self):
        data = super().clean()
        try:
            check_new_account(
                name=data.get("name") or "",
                kind=data.get("type") or "",
                billing_currency=data.get("billing_currency") or "",
                master=data.get("enterprise_master"),
            )
        except BillingError as exc:
            raise forms.ValidationError(exc.message) from None
        return data


@admin.register(Account)
class AccountAdmin(ReviewFlagMixin, HistoryAdmin):
    list_display = ("name", "type", "balance", "enterprise_master", "review", "created_at")
    list_filter = ("type", "needs_review")
    actions = ["mark_reviewed"]  # the flag clears only through it: the note is read first
    list_select_related = ("enterprise_master",)
    search_fields = ("name",)
    # The balance only moves through the ledger; the type and master only through
    # accounts.lifecycle.change_account_type, which refuses while money is in flight.
    readonly_fields = ("balance", "created_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = AccountAddForm
            kwargs["fields"] = ("name", "type", "enterprise_master", "billing_currency")
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "type", "enterprise_master", "billing_currency")
        return (
            "name",
            "type",
            "enterprise_master",
            "currency",
            "balance",
            "review",
            "review_note_shown",
            "created_at",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return self.readonly_fields + ("type", "enterprise_master", "currency", "review", "review_note_shown")
        return self.readonly_fields

    @admin.display(description=gettext_lazy("Billing currency"))
    def currency(self, obj):
        """The account's currency by our label: django-money's own field is labelled in English only."""
        return obj.billing_currency

    def save_model(self, request, obj, form, change):
        if change:
            obj._history_user = request.user
            obj.save(update_fields=["name"])
            return
        opened = open_account(  # the form ran the same checks (check_new_account)
            name=form.cleaned_data["name"],
            kind=form.cleaned_data["type"],
            billing_currency=form.cleaned_data["billing_currency"],
            enterprise_master_id=getattr(form.cleaned_data.get("enterprise_master"), "pk", None),
            actor=request.user,
        )
        obj.pk, obj._state.adding = opened.pk, False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "account", "kind", "amount", "balance_after", "source_ref", "actor")
    list_filter = ("kind",)
    list_select_related = ("account", "actor")
    search_fields = ("source_ref", "description", "account__name")
    date_hierarchy = "created_at"
    # The description in the reader's language (the stored English is what search reads); it had shown
    # "Bank transfer BT-…" on a Chinese page (found by a helper).
    fields = (
        "account", "amount", "kind", "source_ref", "described", "actor", "balance_after", "created_at",
    )  # fmt: skip

    @admin.display(description=gettext_lazy("description"))
    def described(self, obj):
        return entry_description(obj.description, obj.description_parts)


@admin.register(OutboundEmail)
class OutboundEmailAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "to", "subject", "status", "attempts", "sent_at")
    list_filter = ("status",)
    search_fields = ("to", "subject", "dedupe_key")


class RecentFilter(admin.SimpleListFilter):
    title = gettext_lazy("sent")
    parameter_name = "within"

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in RECENT.items()]

    def queryset(self, request, queryset):
        if self.value() not in RECENT:
            return queryset
        return created_within(queryset, now=timezone.now(), within=self.value())


@admin.register(OutboundSms)
class OutboundSmsAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "masked_to",
        "account",
        "kind",
        "status",
        "attempts",
        "sent_at",
        "provider_message_id",
    )
    list_filter = ("status", RecentFilter)
    list_select_related = ("account",)
    search_fields = ("to", "dedupe_key", "account__name", "provider_message_id")
    date_hierarchy = "created_at"
    exclude = ("text", "to")
    readonly_fields = ("masked_to", "shown_text")

    @admin.display(description=pgettext_lazy("message recipient", "To"))
    def masked_to(self, obj):
        return mask_phone(obj.to)

    @admin.display(description=gettext_lazy("Kind"))
    def kind(self, obj):
        if obj.alert_id:
            return _("Alert")
        return _("Confirmation code") if obj.dedupe_key.startswith("code:") else _("Other")

    @admin.display(description=gettext_lazy("Text"))
    def shown_text(self, obj):
        # A confirmation code is a secret of its recipient: staff see that one was sent, not the code.
        return _("(confirmation code, not shown)") if obj.dedupe_key.startswith("code:") else obj.text


@admin.register(BalanceAlert)
class BalanceAlertAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "account", "crossing", "balance", "threshold")
    list_select_related = ("account",)
    search_fields = ("account__name",)
    date_hierarchy = "created_at"


@admin.register(AlertRecipient)
class AlertRecipientAdmin(ReadOnlyAdmin):
    list_display = ("account", "kind", "masked", "confirmed_at", "codes_sent")
    list_select_related = ("account",)
    search_fields = ("account__name",)
    exclude = ("code_hash", "address")
    readonly_fields = ("masked",)

    @admin.display(description=gettext_lazy("Address"))
    def masked(self, obj):
        return mask_phone(obj.address) if obj.kind == AlertRecipient.Kind.SMS else obj.address


@admin.register(UsageCharge)
class UsageChargeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "service", "idempotency_key", "account", "amount", "description")
    list_filter = ("service",)
    list_select_related = ("account",)
    search_fields = ("idempotency_key", "account__name")
    date_hierarchy = "created_at"


class ServiceTokenForm(forms.ModelForm):
    class Meta:
        model = ServiceToken
        fields = ("service", "name")


TOKEN_REVOKED = gettext_noop("Revoked: requests with this token now get 401")  # admin's audit trail (admin_log)
known_messages(TOKEN_REVOKED)


@admin.register(ServiceToken)
class ServiceTokenAdmin(AddedNotEditedMixin, admin.ModelAdmin):
    """Tokens are created here and shown once; afterwards only revoked."""

    form = ServiceTokenForm
    list_display = ("name", "service", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("service", ("revoked_at", admin.EmptyFieldListFilter))
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("service", "name", "prefix", "created_at", "last_used_at", "revoked_at")

    def save_model(self, request, obj, form, change):
        if change:
            return
        token, plain = create_service_token(service=obj.service, name=obj.name)
        obj.pk = token.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            _("Token for %(service)s: %(token)s — copy it now, it is not shown again.")
            % {"service": token.service, "token": plain},
            messages.WARNING,
        )

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=gettext_lazy("Revoke the selected tokens"), permissions=["change"])
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):  # one revoked before is left as it is
            revoke_service_token(token_id=token.pk)
            log_done(request, token, describe(TOKEN_REVOKED), fields=["revoked_at"])
        self.message_user(request, _("Revoked: requests with these tokens now get 401."), messages.SUCCESS)


from . import enterprise_admin  # noqa: E402,F401  (enterprise fund moves: their own module)
from .outbound_webhooks import admin as webhooks_admin  # noqa: E402,F401  (outbound webhooks: their own module)
