"""Finance's bank statements in Django admin: upload one for a receiving account, read its lines
with their match state and totals, confirm matched lines with one click and assign the
unmatched queue's lines to an account, take back the credit of a transfer the bank returned — each action
through a confirmation page."""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from djmoney.money import Money

from billing_center.admin_base import ReadOnlyAdmin, confirmation_page, report_outcomes
from billing_center.admin_log import log_done
from billing_center.moments import moment
from money.errors import BillingError
from money.formatting import format_money

from ..models import StatementFile, StatementLine
from ..review import CREDIT_PERMISSION
from ..statements.crediting import CREDITABLE, assign_line, confirm_line
from ..statements.importing import IMPORT_PERMISSION, import_statement
from ..statements.returns import returned_credit
from ..statements.setting_aside import put_back_line, set_aside_line
from ..statements.take_back import booked_again, take_back_return, taken_back_by, to_take_back
from . import log_words
from .forms import AssignForm, SetAsideForm, UploadForm
from .statement_words import (
    assigned_words,
    credit_words,
    import_outcomes,
    missing_statement_words,
    put_back_words,
    set_aside_words,
    statement_totals,
    taken_back_words,
)

LINES = "admin:tickets_statementline_changelist"


@admin.register(StatementFile)
class StatementFileAdmin(ReadOnlyAdmin):
    list_display = ("original_name", "receiving_account", "statement_id", "uploaded_at", "uploaded_by", "counts")
    list_filter = ("receiving_account", "format")
    list_select_related = ("receiving_account", "uploaded_by")
    fields = (
        "receiving_account",
        "format",
        "original_name",
        "statement_id",
        "sha256",
        "uploaded_by",
        "uploaded_at",
        "reconciliation",
    )
    readonly_fields = fields

    @admin.display(description=gettext_lazy("Lines (new)"))
    def counts(self, obj):
        url = f"{reverse(LINES)}?{urlencode({'statement_file__id__exact': obj.pk})}"
        text = _("%(lines)s (%(new)s new)") % {"lines": obj.line_count, "new": obj.new_line_count}
        return format_html('<a href="{}">{}</a>', url, text)

    @admin.display(description=gettext_lazy("Reconciliation"))
    def reconciliation(self, obj):
        total = obj.lines.filter(currency=obj.currency).aggregate(total=Sum("amount"))["total"] or 0
        money = {  # as money in the reader's format: the sum had read 12334.0500000000
            "opening": obj.opening_balance,
            "total": total,
            "sum": obj.opening_balance + total,
            "closing": obj.closing_balance,
        }
        text = _(
            "Opening %(opening)s + lines stored from this file %(total)s = %(sum)s; "
            "the statement's closing balance is %(closing)s."
        ) % {key: format_money(Money(value, obj.currency)) for key, value in money.items()}
        return format_html("{} {}", text, self.counts(obj))

    def has_add_permission(self, request):
        return request.user.is_staff and request.user.has_perm(IMPORT_PERMISSION)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = import_statement(
                    receiving_account_id=form.cleaned_data["receiving_account"].pk,
                    data=upload.read(),
                    name=upload.name,
                    actor=request.user,
                    fmt=form.cleaned_data["format"],
                )
            except BillingError as exc:
                form.add_error("file", exc.message)
            else:
                log_done(request, result.statement, log_words.imported(result), added=True)
                earlier = (
                    StatementFile.objects.filter(receiving_account=result.statement.receiving_account)
                    .filter(sha256=result.statement.sha256)
                    .exclude(pk=result.statement.pk)
                    .order_by("uploaded_at")
                    .first()
                )
                if earlier is not None and not result.new_lines:
                    # Said, and its lines shown where they are: under the upload that brought them (this one's list
                    # is empty, and its counts, all 0, had read as if nothing waited).
                    self.message_user(
                        request,
                        _("This file was imported already, on %(when)s by %(user)s: none of its lines is new.")
                        % {"when": moment(earlier.uploaded_at), "user": earlier.uploaded_by},
                        messages.WARNING,
                    )
                    query = urlencode({"statement_file__id__exact": earlier.pk})
                    return HttpResponseRedirect(f"{reverse(LINES)}?{query}")
                self.message_user(
                    request,
                    ngettext(
                        "Imported %(lines)s line (%(new)s new): %(outcomes)s.",
                        "Imported %(lines)s lines (%(new)s new): %(outcomes)s.",
                        result.lines,
                    )
                    % {"lines": result.lines, "new": result.new_lines, "outcomes": import_outcomes(result)},
                    messages.SUCCESS,
                )
                if missing := missing_statement_words(result):
                    self.message_user(request, missing, messages.WARNING)
                query = urlencode({"statement_file__id__exact": result.statement.pk})
                return HttpResponseRedirect(f"{reverse(LINES)}?{query}")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Upload a bank statement"),
            "form": form,
            "opts": self.model._meta,
        }
        request.current_app = self.admin_site.name
        status = 400 if form.is_bound else 200  # sent and not imported: the form shows why
        return TemplateResponse(request, "admin/tickets/statementfile/upload.html", context, status=status)


@admin.register(StatementLine)
class StatementLineAdmin(ReadOnlyAdmin):
    change_list_template = "admin/tickets/statementline/change_list.html"
    list_display = ("booking_date", "amount_display", "payer", "bank_reference", "state_display", "match")
    list_filter = ("state", "rule", "receiving_account", "statement_file")
    list_select_related = ("account", "ticket", "proposed_by")
    search_fields = (
        "bank_reference", "payer_name", "remittance", "creditor_reference", "payer_reference", "set_aside_note",
    )  # fmt: skip
    ordering = ("-booking_date", "-id")
    actions = ["confirm_lines", "assign_to_account", "set_aside", "put_back", "take_back"]
    # Every field as it is stored, but the notes our code wrote: those in the reader's language (tickets.notes).
    fields = readonly_fields = [
        {"explanation": "explanation_shown", "suggestions": "suggestions_shown"}.get(f.name, f.name)
        for f in StatementLine._meta.concrete_fields
        if not f.name.endswith("_parts") and f.name != "id"
    ]

    @admin.display(description=gettext_lazy("Amount"), ordering="amount")
    def amount_display(self, obj):
        return format_html('<span class="amount">{}</span>', format_money(obj.money))

    @admin.display(description=gettext_lazy("Payer · remittance"))
    def payer(self, obj):
        return format_html('{}<br><small class="quiet">{}</small>', obj.payer_name, obj.remittance[:80])

    @admin.display(description=gettext_lazy("State"), ordering="state")
    def state_display(self, obj):
        if obj.proposed_by_id and obj.state == StatementLine.State.MATCHED:  # it had shown only on the line's page
            proposed = _("proposed by %(user)s; a second finance user confirms it") % {"user": obj.proposed_by}
            return format_html(
                '<span data-testid="line-state">{}</span><br><small class="quiet">{}</small>',
                obj.get_state_display(),
                proposed,
            )
        return format_html('<span data-testid="line-state">{}</span>', obj.get_state_display())

    @admin.display(description=gettext_lazy("Match"))
    def match(self, obj):
        account = f"{obj.account.name} (#{obj.account_id})" if obj.account_id else "—"
        suggestions = (
            _("Suggestions: %(suggestions)s") % {"suggestions": obj.shown_suggestions} if obj.suggestions else ""
        )
        return format_html(
            '<strong>{}</strong><br><small class="quiet">{}</small><br><small>{}</small>',
            account,
            obj.shown_explanation.replace("\n", " "),
            suggestions,
        )

    @admin.display(description=gettext_lazy("Explanation"))
    def explanation_shown(self, obj):
        return obj.shown_explanation

    @admin.display(description=gettext_lazy("Suggestions"))
    def suggestions_shown(self, obj):
        return obj.shown_suggestions

    def has_credit_permission(self, request):
        return request.user.is_staff and request.user.has_perm(CREDIT_PERMISSION)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """A line's page offers what may be done to it, each through the list's "are you sure?" page (the page had
        only listed its fields: every action was in the list's menu; found by a helper as a clerk)."""
        line = self.get_object(request, object_id)
        actions = line_actions(line) if line is not None and self.has_credit_permission(request) else []
        extra = {"line_actions": actions, "action_checkbox_name": ACTION_CHECKBOX_NAME}
        return super().change_view(request, object_id, form_url, extra_context={**(extra_context or {}), **extra})

    def changelist_view(self, request, extra_context=None):
        # Finance's work list, like the ticket queue: the full width, so the match explanation fits.
        extra_context = {"is_nav_sidebar_enabled": False, **(extra_context or {})}
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl")
        if cl is not None:
            response.context_data["totals"] = statement_totals(cl.queryset)
        return response

    @admin.action(description=gettext_lazy("Confirm and credit the selected lines"), permissions=["credit"])
    def confirm_lines(self, request, queryset):
        if "post" in request.POST:
            # Oldest booking first: a transfer listed on two statements is credited on the day the bank booked it.
            done = [
                self._run(
                    request,
                    line,
                    lambda line=line: confirm_line(
                        line_id=line.pk, actor=request.user, seen_account=request.POST.get(f"account-{line.pk}", "")
                    ),
                    credit_words,
                    log_words.line_confirmed,
                )  # fmt: skip
                for line in queryset.order_by("booking_date", "pk")
            ]
            return self._report(request, done)
        return self._confirmation(request, queryset, _("Confirm and credit"), "confirm_lines")

    @admin.action(description=gettext_lazy("Assign the selected lines to an account"), permissions=["credit"])
    def assign_to_account(self, request, queryset):
        form = AssignForm(request.POST if "post" in request.POST else None)
        if "post" in request.POST and form.is_valid():
            account_id = form.cleaned_data["account_id"]
            done = [
                self._run(
                    request,
                    line,
                    lambda line=line: assign_line(line_id=line.pk, account_id=account_id, actor=request.user),
                    assigned_words,
                    log_words.assigned,
                )
                for line in queryset
            ]
            return self._report(request, done)
        return self._confirmation(request, queryset, _("Assign to account"), "assign_to_account", form=form)

    @admin.action(description=gettext_lazy("Set the selected lines aside (not credited)"), permissions=["credit"])
    def set_aside(self, request, queryset):
        form = SetAsideForm(request.POST if "post" in request.POST else None)
        if "post" in request.POST and form.is_valid():
            reason, note = form.cleaned_data["reason"], form.cleaned_data["note"]
            done = [
                self._run(
                    request,
                    line,
                    lambda line=line: set_aside_line(line_id=line.pk, actor=request.user, reason=reason, note=note),
                    set_aside_words,
                    log_words.set_aside,
                )
                for line in queryset
            ]
            return self._report(request, done)
        return self._confirmation(request, queryset, _("Set aside"), "set_aside", form=form)

    @admin.action(description=gettext_lazy("Put the selected lines back to be credited"), permissions=["credit"])
    def put_back(self, request, queryset):
        if "post" in request.POST:
            done = [
                self._run(
                    request,
                    line,
                    lambda line=line: put_back_line(line_id=line.pk, actor=request.user),
                    put_back_words,
                    log_words.put_back,
                )
                for line in queryset
            ]
            return self._report(request, done)
        return self._confirmation(request, queryset, _("Put back"), "put_back")

    @admin.action(description=gettext_lazy("Take back what the selected returns took"), permissions=["credit"])
    def take_back(self, request, queryset):
        if "post" in request.POST:
            done = [
                self._run(
                    request,
                    line,
                    lambda line=line: take_back_return(line_id=line.pk, actor=request.user),
                    taken_back_words,
                    log_words.taken_back,
                )
                for line in queryset.order_by("booking_date", "pk")
            ]
            return self._report(request, done)
        return self._confirmation(request, queryset, _("Take back the credit"), "take_back")

    def _run(self, request, line, call, words, said):
        """Call the action for one line: the line, what became of it in words, and whether it went through. What
        went through and changed the line is kept in admin's audit trail as `said(result)` says it
        (tickets.admin.log_words; billing_center.admin_log); a refusal, or a repeat that changed nothing, is not."""
        try:
            result = call()
        except BillingError as exc:
            return line, exc.message, False
        if (logged := said(result)) is not None:
            log_done(request, getattr(result, "line", result), logged, before=line)
        return line, words(result), True

    def _report(self, request, done):
        report_outcomes(self, request, [(line.bank_reference, what, ok) for line, what, ok in done])
        return None

    def _confirmation(self, request, queryset, title, action, form=None):
        lines = list(queryset.select_related("account", "ticket", "bill"))
        for line in lines if action == "take_back" else []:
            line.to_take_back = to_take_back(line)  # (the credit, what would be taken) or None
        return confirmation_page(
            self,
            request,
            "admin/tickets/statementline/action_confirmation.html",
            action=action,
            action_title=title,
            lines=lines,
            totals=_totals(lines) if action == "confirm_lines" else [],
            form=form,
            queryset=queryset,
        )


def _totals(lines: list[StatementLine]) -> list[Money]:
    """What confirming the selected lines credits in all, per currency: said on its page (found by a helper)."""
    totals: dict[str, Money] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, Money(0, line.currency)) + line.money
    return [totals[currency] for currency in sorted(totals)]


def line_actions(line: StatementLine) -> list[tuple[str, str]]:
    """The actions a clerk may take on this line now, (action, label), the usual one first."""
    if line.state in CREDITABLE:
        confirm = [("confirm_lines", _("Confirm and credit"))] if line.account_id else []
        return [*confirm, ("assign_to_account", _("Assign to account")), ("set_aside", _("Set aside"))]
    if line.state == StatementLine.State.SET_ASIDE:
        return [("put_back", _("Put back"))]
    credit = returned_credit(line)
    if credit is not None and taken_back_by(line) is None and not booked_again(line, credit):
        return [("take_back", _("Take back the credit"))]  # not when taken back already, or its credit stands
    return []
