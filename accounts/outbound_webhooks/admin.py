"""Operators' webhooks in admin: endpoints for every account (or one), the delivery log, and
sending events again — one, a selection, or every delivery of a date range (filter, select all)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from billing_center.admin_base import AddedNotEditedMixin, ReadOnlyAdmin
from billing_center.admin_log import log_done
from money.errors import BillingError

from ..descriptions import describe, known_messages
from .endpoints import check_room, register_endpoint, replay_deliveries, rotate_secret, set_enabled
from .events import EVENT_TYPES
from .models import DeliveryAttempt, EventDelivery, WebhookEndpoint

# What operators' actions leave in admin's audit trail (billing_center.admin_log), in the reader's language.
TURNED_ON = gettext_noop("Turned on: what waited is being sent")
TURNED_OFF = gettext_noop("Turned off: its events wait until it is on again")
ROTATED = gettext_noop("Signing secret rotated; the old one signs for %(hours)s more hours")
SENT_AGAIN = gettext_noop("Queued to be sent again")
known_messages(TURNED_ON, TURNED_OFF, ROTATED, SENT_AGAIN)


class EndpointAdminForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        label=_("Events to send"), choices=[(name, name) for name in EVENT_TYPES], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("account", "description")  # url and event_types are declared above

    def clean(self):
        data = super().clean()
        if data.get("url") and data.get("event_types"):
            from .addresses import check_url

            try:
                check_url(data["url"])
            except BillingError as exc:
                self.add_error("url", exc.message)
        if data.get("account"):
            try:  # beside the form, what was typed kept (it had been the site's 403 page; found by a helper)
                check_room(data["account"])
            except BillingError as exc:
                self.add_error("account", exc.message)
        return data


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(AddedNotEditedMixin, admin.ModelAdmin):
    form = EndpointAdminForm
    list_display = ("url", "owner", "enabled", "created_at")
    list_filter = ("enabled", ("account", admin.EmptyFieldListFilter))
    search_fields = ("url", "account__name", "description")
    list_select_related = ("account",)
    raw_id_fields = ("account",)
    actions = ["turn_on", "turn_off", "rotate"]

    @admin.display(description=_("for"))
    def owner(self, endpoint):
        return endpoint.account or gettext("every account")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (
            "account",
            "url",
            "description",
            "event_types",
            "enabled",
            "disabled_reason",
            "created_by",
            "created_at",
        )

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) or super().get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        registered = register_endpoint(
            account=data["account"],
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
            actor=request.user,
        )
        obj.pk = registered.endpoint.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            gettext("Signing secret: %(secret)s — copy it now, it is not shown again.") % {"secret": registered.secret},
            messages.WARNING,
        )

    @admin.action(description=_("Turn the selected endpoints on"), permissions=["change"])
    def turn_on(self, request, queryset):
        self._switch(request, queryset, True)
        self.message_user(request, gettext("Turned on: what waited is being sent."), messages.SUCCESS)

    @admin.action(description=_("Turn the selected endpoints off"), permissions=["change"])
    def turn_off(self, request, queryset):
        self._switch(request, queryset, False)
        self.message_user(request, gettext("Turned off: their events wait until they are on again."), messages.SUCCESS)

    def _switch(self, request, queryset, enabled: bool) -> None:
        for endpoint in queryset:
            set_enabled(endpoint, enabled)
            if endpoint.enabled != enabled:  # one that was on already is not said to be turned on
                said = describe(TURNED_ON if enabled else TURNED_OFF)
                log_done(request, endpoint, said, fields=["enabled"])

    @admin.action(description=_("Rotate the signing secret"), permissions=["change"])
    def rotate(self, request, queryset):
        for endpoint in queryset:
            secret = rotate_secret(endpoint)
            said = describe(ROTATED, hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)  # the secret itself is never logged
            log_done(request, endpoint, said, fields=["secret", "previous_secret"])
            self.message_user(
                request,
                gettext("New secret for %(url)s: %(secret)s — shown once; the old one signs for 24 more hours.")
                % {"url": endpoint.url, "secret": secret},
                messages.WARNING,
            )


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("at", "status_code", "latency_ms", "response_excerpt", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(EventDelivery)
class EventDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event_type", "event_id", "endpoint", "status", "attempts", "created")
    list_filter = ("status", "event__type")
    list_select_related = ("event", "endpoint")
    search_fields = ("event__event_id", "endpoint__url")
    date_hierarchy = "event__created_at"
    fields = ("endpoint", "event", "status", "attempts", "next_attempt_at", "first_failed_at", "delivered_at")
    inlines = [AttemptInline]
    actions = ["send_again"]

    @admin.display(description=_("event"), ordering="event__type")
    def event_type(self, delivery):
        return delivery.event.type

    @admin.display(description=_("event id"))
    def event_id(self, delivery):
        return delivery.event.event_id

    @admin.display(description=_("happened"), ordering="event__created_at")
    def created(self, delivery):
        return delivery.event.created_at

    def has_replay_permission(self, request):
        return request.user.has_perm("accounts.change_webhookendpoint")

    @admin.action(description=_("Send the selected events again"), permissions=["replay"])
    def send_again(self, request, queryset):
        deliveries = list(queryset)
        count = replay_deliveries(queryset)
        for delivery in deliveries:
            log_done(request, delivery, describe(SENT_AGAIN), fields=["status"])
        self.message_user(
            request,
            gettext("%(count)s event(s) will be sent again, oldest first.") % {"count": count},
            messages.SUCCESS,
        )
