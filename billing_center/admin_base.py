"""What every admin of ours shares: read-only records, and actions that refuse mangled selections."""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpResponseRedirect

from money.parsing import is_digits


class SafeActionsMixin:
    """An action POST whose selection is not a list of ids (a forged or mangled form) is
    answered with a message, not a 500 from the database."""

    def response_action(self, request, queryset):
        selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
        if not all(is_digits(pk, max_length=18) for pk in selected):
            self.message_user(request, "The selection was not understood; nothing was changed.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class ReadOnlyAdmin(SafeActionsMixin, admin.ModelAdmin):
    """Records written by services only (money, deliveries, logs); staff read them here."""

    # These logs grow without end: a filtered list must not also count every row.
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
