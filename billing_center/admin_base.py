"""What every admin of ours shares: read-only records, records added but never edited, actions that
refuse mangled selections, and a History page in our words."""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import models
from django.http import HttpResponseRedirect
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import DeletedObject
from simple_history.template_utils import HistoricalRecordContextHelper

from money.parsing import is_digits

# How History shows a field that had no value, and a change that no signed-in person made
# (a gateway's webhook, a scheduled task, a command).
EMPTY = "—"
NO_PERSON = gettext_lazy("system")


def yes_no(value: bool | None) -> str:
    """Admin's yes/no icon for a boolean, its alt text in the reader's language: Django's own icon
    (list columns, read-only fields) says "True" or "False" in English whatever the language."""
    icon, word = {True: ("yes", gettext("Yes")), False: ("no", gettext("No")), None: ("unknown", gettext("Unknown"))}[
        value
    ]
    return format_html('<img src="{}" alt="{}">', static(f"admin/img/icon-{icon}.svg"), word)


class ReviewFlagMixin:
    """The needs-review flag as a column or a read-only field, with its alt text translated."""

    @admin.display(description=gettext_lazy("needs review"), ordering="needs_review")
    def review(self, obj):
        return yes_no(obj.needs_review)


def _in_words(field):
    @admin.display(description=field.verbose_name, ordering=field.name)
    def shown(obj):
        return yes_no(getattr(obj, field.name))

    return shown


class BooleansInWordsMixin:
    """Every boolean the admin shows read-only (a column, a view-only clerk's page, a field no one
    may edit) goes through yes_no: Django's own icon has the alt text "True"/"False" in English
    whatever the reader's language. A boolean someone may still tick stays a checkbox."""

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        booleans = [f for f in model._meta.concrete_fields if isinstance(f, models.BooleanField)]
        self.in_words = {f.name: f"{f.name}_in_words" for f in booleans}
        for field in booleans:
            setattr(self, self.in_words[field.name], _in_words(field))

    def _words(self, names, keep=()):
        """`names` with each boolean not in `keep` replaced by its yes/no display (rows of a
        fieldset may be tuples of names)."""
        return [
            tuple(self._words(name, keep))
            if isinstance(name, list | tuple)
            else name
            if name in keep
            else self.in_words.get(name, name)
            for name in names
        ]

    def get_list_display(self, request):
        return self._words(super().get_list_display(request))

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly + [self.in_words[name] for name in readonly if name in self.in_words]

    def get_fieldsets(self, request, obj=None):
        editable = set()
        if obj is None or self.has_change_permission(request, obj):
            editable = set(self.in_words) - set(super().get_readonly_fields(request, obj))
        return [
            (title, {**options, "fields": self._words(options["fields"], keep=editable)})
            for title, options in super().get_fieldsets(request, obj)
        ]


class SafeActionsMixin:
    """An action POST whose selection is not a list of ids (a forged or mangled form) is
    answered with a message, not a 500 from the database."""

    def response_action(self, request, queryset):
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        if not all(is_digits(pk, max_length=18) for pk in selected):
            self.message_user(
                request, gettext("The selection was not understood; nothing was changed."), messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class ReadOnlyAdmin(BooleansInWordsMixin, SafeActionsMixin, admin.ModelAdmin):
    """Records written by services only (money, deliveries, logs); staff read them here."""

    # These logs grow without end: a filtered list must not also count every row.
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AddedNotEditedMixin:
    """Records added in admin and never edited (receiving accounts, invoices, service tokens): an
    existing one opens read-only, with no Save buttons, and a POST to it is refused. Actions that
    need the change permission (retire, revoke) still run: Django asks for those without an object."""

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)


class HistoryWords(HistoricalRecordContextHelper):
    """An empty field reads "—": simple-history shows an empty foreign key as a deleted object
    ("Deleted user (pk=None)"), as if someone had been removed, and an empty text as nothing."""

    def prepare_delta_change_value(self, change, value):
        if value is None or value == "" or (isinstance(value, DeletedObject) and value.pk is None):
            return EMPTY
        # A status reads as its label in the reader's language ("已提交"), not its stored code.
        field = next((f for f in self.model._meta.concrete_fields if f.name == change.field), None)
        if field is not None and field.choices:
            return dict(field.flatchoices).get(value, value)
        return super().prepare_delta_change_value(change, value)


class HistoryAdmin(BooleansInWordsMixin, SimpleHistoryAdmin):
    """django-simple-history's History page, with empty fields and changes made by no person in words."""

    object_history_list_template = "admin/history_list.html"

    def get_historical_record_context_helper(self, request, historical_record):
        return HistoryWords(self.model, historical_record)

    def history_view(self, request, object_id, extra_context=None):
        return super().history_view(request, object_id, {"no_person": NO_PERSON, **(extra_context or {})})
