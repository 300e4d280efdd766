"""What every admin of ours shares: read-only records, records added but never edited, actions that
refuse mangled selections, and a History page in our words."""

from functools import wraps

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import DeletedObject
from simple_history.template_utils import HistoricalRecordContextHelper

from money.parsing import is_digits

from .admin_log import label, log_done, logged_for
from .review_flags import fingerprint, mark_reviewed

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


def confirmation_page(model_admin, request, template: str, *, action_title: str, title: str = "", **context):
    """An action's confirmation page (a child of templates/admin/action_confirmation.html) with
    admin's context, the model's options and the action's title; the page's title is
    "<action>: are you sure?" unless given. Shown again with a form's errors, it answers 400."""
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(
        request,
        template,
        # Shown again after the clerk confirmed ("post"): something was refused, and the page says what.
        status=400 if "post" in request.POST else 200,
        context={
            **model_admin.admin_site.each_context(request),
            "title": title or gettext("%(action)s: are you sure?") % {"action": action_title},
            "action_title": action_title,
            "opts": model_admin.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "media": model_admin.media,
            **context,
        },
    )


def report_outcomes(model_admin, request, done) -> None:
    """An action's outcome for each record, (name, what became of it, whether it went through): what went
    through in one message, each refusal in a message of its own (a mixed batch had read as one failure)."""
    went = [f"{name}: {what}" for name, what, ok in done if ok]
    if went:
        model_admin.message_user(request, "; ".join(went), messages.SUCCESS)
    for name, what, ok in done:
        if not ok:
            model_admin.message_user(request, f"{name}: {what}", messages.ERROR)


def owner(obj) -> str:
    """Whose record it is, for a page that lists records of several accounts: a top-up's account,
    a refund's top-up's; nothing for an account itself."""
    account = getattr(obj, "account", None) or getattr(getattr(obj, "topup", None), "account", None)
    return account.name if account is not None else ""


class ReviewFlagMixin:
    """The needs-review flag as a column or a read-only field, with its alt text translated, and
    the action that clears it (billing_center.review_flags) for whoever may review the model."""

    @admin.display(description=gettext_lazy("needs review"), ordering="needs_review")
    def review(self, obj):
        # A warning, not a green tick: clerks read admin's tick for "needs review" as "all is well".
        return "⚠ " + gettext("Needs review") if obj.needs_review else EMPTY

    @admin.display(description=gettext_lazy("review note"))
    def review_note_shown(self, obj):
        """The note in the reader's language, line by line (accounts.review_notes.ReadsReviewNote)."""
        return format_html('<pre class="review-note">{}</pre>', obj.shown_review_note) if obj.review_note else EMPTY

    def get_fields(self, request, obj=None):
        fields = ["review_note_shown" if name == "review_note" else name for name in super().get_fields(request, obj)]
        return list(dict.fromkeys(fields))  # once, where the stored note stood

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "review_note_shown"]

    @admin.action(description=gettext_lazy("Mark the selected as reviewed…"), permissions=["review"])
    def mark_reviewed(self, request, queryset):
        """First the flagged records' notes to read, then clear what was read (a note changed since stays flagged)."""
        pks = list(queryset.values_list("pk", flat=True))
        if not pks:  # ids of records this list does not hold (a prepaid account on the postpaid list)
            self.message_user(request, gettext("None of the selected is flagged for review."), messages.WARNING)
            return None
        if "post" in request.POST:
            seen = {pk: request.POST.get(f"seen-{pk}", "") for pk in pks}  # none: the page was never shown
            done = mark_reviewed(self.model, seen=seen, actor=request.user)
            for row in done.cleared:  # the admin's own History page (LogEntry) says who, as simple-history's does
                log_done(request, row, fields=["needs_review"])
            if done.cleared:
                names = ", ".join(label(row) for row in done.cleared)
                cleared = gettext("Marked as reviewed: %(names)s.")
                self.message_user(request, cleared % {"names": names}, messages.SUCCESS)
            if done.changed:
                names = ", ".join(label(row) for row in done.changed)
                changed = gettext("Still flagged: %(names)s. The note is not the one you read; read it again.")
                self.message_user(request, changed % {"names": names}, messages.WARNING)
            if not done.cleared and not done.changed:
                self.message_user(request, gettext("Nothing was flagged any more; nothing changed."), messages.INFO)
            return None
        flagged = list(queryset.filter(needs_review=True).order_by("pk"))  # the list's select_related: owners
        if not flagged:
            self.message_user(request, gettext("None of the selected is flagged for review."), messages.WARNING)
            return None
        return confirmation_page(
            self,
            request,
            "admin/review_flags.html",
            action="mark_reviewed",
            action_title=gettext("Mark as reviewed"),
            flagged=[
                (row, label(row), owner(row), *row.review_note_since_last_review(), fingerprint(row.review_note))
                for row in flagged
            ],
            queryset=flagged,
        )

    def has_review_permission(self, request):
        """`review_<model>` of the concrete model: postpaid accounts are reviewed as accounts."""
        opts = self.model._meta.concrete_model._meta
        return request.user.has_perm(f"{opts.app_label}.review_{opts.model_name}")


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


def refusing_mangled_selections(model_admin, changelist_view):
    """A list's view that answers an action POST whose selection is not a list of the model's ids (a
    forged or mangled form) with a message, not a 500 from the database, and one whose records are all
    gone (deleted or moved off this list since it was shown) with a message, not silence. FinanceAdminSite wraps every
    list with it, ours and the libraries' (groups, django-axes, django-otp)."""

    @wraps(changelist_view)
    def view(request, *args, **kwargs):
        # Staff who may not see the list hear Django's 403 first, whatever they selected: an id that exists had
        # answered 403 and one that does not a message, telling them apart (found by a helper).
        allowed = model_admin.has_view_or_change_permission(request)
        if request.method == "POST" and "action" in request.POST and allowed:
            selected = request.POST.getlist(ACTION_CHECKBOX_NAME)
            if not all(is_id(model_admin.model, pk) for pk in selected):
                message = gettext("The selection was not understood; nothing was changed.")
                model_admin.message_user(request, message, messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
            if selected and request.POST.get("select_across") not in ("1", "True"):
                if not model_admin.get_queryset(request).filter(pk__in=selected).exists():  # gone since the list
                    message = gettext("None of the selected records is on this list any more; nothing was changed.")
                    model_admin.message_user(request, message, messages.WARNING)
                    return HttpResponseRedirect(request.get_full_path())
        return changelist_view(request, *args, **kwargs)

    return view


DATE_PARTS = {"year": (1, 9998), "month": (1, 12), "day": (1, 31)}


def refusing_impossible_dates(model_admin, changelist_view):
    """A list's view that answers a date lookup no calendar has (?created_at__year=99999, a month 13) as
    Django answers any lookup it cannot use, with its "?e=1" page: the year had reached the database's date
    bounds, a 500 (found by a helper). FinanceAdminSite wraps every list with it."""

    @wraps(changelist_view)
    def view(request, *args, **kwargs):
        for key, value in request.GET.items():
            low, high = DATE_PARTS.get(key.rpartition("__")[2], (None, None))
            if low is not None and not (is_digits(value, max_length=4) and low <= int(value) <= high):
                return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")
        return changelist_view(request, *args, **kwargs)

    return view


def answering_400_on_errors(form_view):
    """An add or change page sent with something the form refuses answers 400, as our own forms do:
    Django's admin shows the errors with a 200. FinanceAdminSite wraps every add and change page."""

    @wraps(form_view)
    def view(request, *args, **kwargs):
        response = form_view(request, *args, **kwargs)
        refused = request.method == "POST" and isinstance(response, TemplateResponse)
        if refused and response.status_code == 200 and (response.context_data or {}).get("errors"):
            response.status_code = 400
        return response

    return view


def is_id(model, value: str) -> bool:
    """Whether `value` could be one of the model's primary keys: digits that fit a bigint for an
    integer key ("１" and "1 OR 1=1" are not), anything the key's field accepts otherwise."""
    pk = model._meta.pk
    if isinstance(pk, models.IntegerField):
        return is_digits(value, max_length=18)
    try:
        pk.to_python(value)
    except ValidationError:
        return False
    return True


class ReadOnlyAdmin(BooleansInWordsMixin, admin.ModelAdmin):
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
        if isinstance(value, bool):  # "False → True" in English whatever the reader's language
            return gettext("Yes") if value else gettext("No")
        # A status reads as its label in the reader's language ("已提交"), not its stored code.
        field = next((f for f in self.model._meta.concrete_fields if f.name == change.field), None)
        if field is not None and field.choices:
            return dict(field.flatchoices).get(value, value)
        return super().prepare_delta_change_value(change, value)


class HistoryAdmin(BooleansInWordsMixin, SimpleHistoryAdmin):
    """django-simple-history's History page, with empty fields and changes made by no person in words, under
    what was done to the record in admin (billing_center.admin_log): who confirmed, rejected or retired it."""

    object_history_template = "admin/history_with_actions.html"
    object_history_list_template = "admin/history_list.html"

    def get_historical_record_context_helper(self, request, historical_record):
        return HistoryWords(self.model, historical_record)

    def history_view(self, request, object_id, extra_context=None):
        require_id(self.model, object_id)
        actions = logged_for(self.model, object_id)
        context = {"no_person": NO_PERSON, "action_list": actions, **(extra_context or {})}
        return super().history_view(request, object_id, context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        require_id(self.model, object_id)
        require_id(self.model.history.model, version_id)
        return super().history_form_view(request, object_id, version_id, extra_context)


def require_id(model, value: str) -> None:
    """A 404 for an address whose id is not one the model could have: "abc" had reached the database, a 500."""
    if not is_id(model, value):
        raise Http404(gettext("No such record."))
