"""Finance's transfer-ticket queue in Django admin, with its actions (confirm and credit,
approve, ask for information, reject)."""

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Q, Subquery
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from djmoney.models.fields import CurrencyField
from djmoney.money import Money

from accounts.selectors import recent_ledger_entries
from billing_center.admin_base import EMPTY, HistoryAdmin, ReadOnlyAdmin, confirmation_page, report_outcomes, yes_no
from billing_center.admin_log import log_done
from money.errors import BillingError
from money.formatting import format_money, format_rate

from .. import intake, review
from ..models import StatementLine, TicketEvent, TransferTicket
from ..review import ConfirmOutcome
from ..statements.parsed import reference_key_of
from . import labels, log_words
from .filters import ApprovalFilter, CurrencyFilter, DueFilter
from .forms import ConfirmCreditForm, ReasonForm, SendBackForm
from .holiday_calendar import calendar_warning

# --- Transfer tickets: the queue ------------------------------------------------------------


STATEMENT_LINE_SHOWN = (
    "pk", "bank_reference", "amount", "currency", "booking_date", "state", "account_id", "account__name",
)  # fmt: skip


def _statement_line_of(ticket) -> dict | None:
    """The statement line the ticket page shows, from the ticket's own query (get_object): the one matched to
    it, or one for its bank reference, also when that line is matched or credited to another account (the page
    had said "no line" beside a refusal that line caused)."""
    if getattr(ticket, "line_pk", None) is None:
        return None
    other = ticket.line_account_id not in (None, ticket.account_id)
    return {
        "pk": ticket.line_pk,
        "bank_reference": ticket.line_bank_reference,
        "money": Money(ticket.line_amount, ticket.line_currency),
        "booking_date": ticket.line_booking_date,
        "state": StatementLine.State(ticket.line_state).label,
        "other_account": f"{ticket.line_account__name} (#{ticket.line_account_id})" if other else "",
        "credited_elsewhere": other and ticket.line_state == StatementLine.State.CREDITED,
    }


@admin.register(TransferTicket)
class TransferTicketAdmin(HistoryAdmin, ReadOnlyAdmin):
    change_form_template = "admin/tickets/transferticket/change_form.html"

    class Media:
        css = {"all": ["css/admin-tickets.css"]}

    fieldsets = [
        (
            gettext_lazy("Full record"),
            {
                "classes": ["collapse"],
                "fields": [
                    {"possible_duplicate": "duplicate", "exchange_rate": "rate"}.get(field.name, field.name)
                    for field in TransferTicket._meta.get_fields()
                    if field.concrete
                    and not field.auto_created
                    and field.name not in ("public_id", "request_key")
                    # A money field shows its currency: its companion column ("Amount currency") is not repeated.
                    and not isinstance(field, CurrencyField)
                ],
            },
        )
    ]
    # Five columns that fit 1280 px beside admin's sidebars: what a clerk matches against the bank
    # statement (amount and the bank's reference) sits together; payer under the account.
    list_display = ("number", "customer", "transfer", "due", "status_and_flags")
    list_display_links = ("number",)
    list_filter = (DueFilter, "status", ApprovalFilter, CurrencyFilter, "possible_duplicate")
    list_select_related = ("account",)
    search_fields = ("number", "invoice__number", "bank_reference", "payment_reference", "payer_name", "account__name")
    ordering = ("due_at", "id")
    list_per_page = 50
    show_full_result_count = False  # the queue stays fast at 100,000 tickets
    actions = [
        "confirm_and_credit", "approve_credit", "withdraw_proposal", "request_information", "reject", "start_review"
    ]  # fmt: skip
    readonly_fields = ("duplicate", "rate")
    exclude = ()

    # -- columns

    @admin.display(description=gettext_lazy("Customer · payer"), ordering="account__name")
    def customer(self, obj):
        return format_html('{}<br><small class="quiet">{}</small>', obj.account, obj.payer_name)

    @admin.display(description=gettext_lazy("Amount · bank reference"), ordering="amount")
    def transfer(self, obj):
        return format_html(
            '<span class="amount">{}</span><br><small class="quiet">{}</small>',
            format_money(obj.amount),
            obj.bank_reference,
        )

    @admin.display(description=pgettext_lazy("ticket deadline", "Due"), ordering="due_at")
    def due(self, obj):
        return labels.due_badge(obj, now=timezone.now())

    @admin.display(description=gettext_lazy("possible duplicate"))
    def duplicate(self, obj):
        return yes_no(obj.possible_duplicate)

    @admin.display(description=gettext_lazy("exchange rate"))
    def rate(self, obj):
        """As the rate is shown everywhere else (7.1000); the stored twelve places had read 7.100000000000."""
        return format_rate(obj.exchange_rate) if obj.exchange_rate is not None else EMPTY

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def status_and_flags(self, obj):
        return labels.status_with_flags(obj, latest_kind=obj.latest_kind)

    def get_queryset(self, request):
        latest = TicketEvent.objects.filter(ticket=OuterRef("pk"), public=True).order_by("-created_at", "-id")
        return super().get_queryset(request).annotate(latest_kind=Subquery(latest.values("kind")[:1]))

    def changelist_view(self, request, extra_context=None):
        # The queue is finance's work list: it takes the width of admin's navigation sidebar (the
        # home page and the breadcrumbs lead to the same lists), so its columns fit 1280 px.
        # It also warns while next year's holiday calendar is empty: its deadlines would be guesses.
        context = {"is_nav_sidebar_enabled": False, **calendar_warning(request.user)}
        return super().changelist_view(request, {**context, **(extra_context or {})})

    def get_object(self, request, object_id, from_field=None):
        """The ticket page asks for its ticket twice (our context, then Django's form): load it
        once per request, with what the page shows of it. Otherwise as ModelAdmin.get_object."""
        cached = getattr(request, "_admin_ticket", None)
        if cached is not None and str(cached.pk) == str(object_id):
            return cached
        queryset = self.get_queryset(request).select_related(
            "account", "submitted_by", "receiving_account", "invoice", "proposed_by", "decided_by", "ledger_entry"
        )
        # The line of our bank statement matched to it, or one with its bank reference, in the same query: the money
        # may be there before anyone looks, or matched to another account.
        line = (
            StatementLine.objects.alias(key=reference_key_of("bank_reference"))
            .filter(
                Q(ticket=OuterRef("pk"))
                | Q(receiving_account=OuterRef("receiving_account"), key=reference_key_of(OuterRef("bank_reference")))
            )
            .order_by("booking_date", "pk")
        )
        queryset = queryset.annotate(
            **{f"line_{name}": Subquery(line.values(name)[:1]) for name in STATEMENT_LINE_SHOWN}
        )
        field = TransferTicket._meta.pk if from_field is None else TransferTicket._meta.get_field(from_field)
        try:
            ticket = queryset.get(**{field.name: field.to_python(object_id)})
        except (TransferTicket.DoesNotExist, ValidationError, ValueError):
            return None
        request._admin_ticket = ticket
        return ticket

    # -- permissions: finance powers come from the Finance group's permissions only

    def has_credit_permission(self, request):
        return request.user.is_staff and request.user.has_perm(review.CREDIT_PERMISSION)

    def has_review_permission(self, request):
        return request.user.is_staff and request.user.has_perm(review.REVIEW_PERMISSION)

    # -- the ticket page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        ticket = self.get_object(request, object_id)
        extra = {}
        if ticket is not None:
            extra = {
                "ticket": ticket,
                "status_label": labels.status_label(ticket),
                "certificates": list(ticket.certificates.all()),
                "events": list(ticket.events.select_related("actor").prefetch_related("certificates")),
                "duplicates": [(other, labels.status_label(other)) for other in intake.duplicate_tickets(ticket)],
                "statement_line": _statement_line_of(ticket),
                "ledger": recent_ledger_entries(ticket.account, limit=8),
                "retired_account": ticket.receiving_account.retired_at is not None,
                "can_credit": self.has_credit_permission(request),
                # The maker never sees an Approve button on their own proposal.
                "can_approve": self.has_credit_permission(request)
                and request.user.pk not in (ticket.proposed_by_id, ticket.submitted_by_id),
                "currency_mismatch": str(ticket.amount.currency) != ticket.receiving_account.currency,
                "can_review": self.has_review_permission(request),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
        return super().change_view(request, object_id, form_url, extra_context={**(extra_context or {}), **extra})

    # -- actions, in the style of delete_selected: permission, confirmation page, one message

    @admin.action(description=gettext_lazy("Confirm and credit the selected tickets"), permissions=["credit"])
    def confirm_and_credit(self, request, queryset):
        tickets = list(queryset.select_related("account", "receiving_account").prefetch_related("certificates"))
        forms_by_ticket = [
            (
                ticket,
                ConfirmCreditForm(
                    request.POST if "post" in request.POST else None,
                    prefix=f"t{ticket.pk}",
                    ticket=ticket,
                    # What arrived is typed from our bank statement, not copied from the
                    # customer's claim; only the currency of the account paid to is suggested.
                    initial={"received_currency": ticket.receiving_account.currency},
                ),
            )
            for ticket in tickets
        ]
        if "post" in request.POST and all(form.is_valid() for _, form in forms_by_ticket):
            done = []
            for ticket, form in forms_by_ticket:
                done.append(
                    self._run(
                        request,
                        ticket,
                        lambda t=ticket, f=form: review.confirm_and_credit(
                            ticket_id=t.pk,
                            actor=request.user,
                            received=f.cleaned_data["received"],
                            bank_reference=f.cleaned_data["bank_reference"],
                        ),
                        said=log_words.confirmed,
                    )
                )
            return self._report(request, done)
        return self._confirmation(request, queryset, _("Confirm and credit"), "confirm_and_credit", forms_by_ticket)

    @admin.action(description=gettext_lazy("Approve the proposed credit (second approval)"), permissions=["credit"])
    def approve_credit(self, request, queryset):
        tickets = list(queryset.select_related("account", "proposed_by"))
        if "post" in request.POST:
            done = [
                self._run(
                    request,
                    t,
                    lambda t=t: review.approve_credit(
                        ticket_id=t.pk, actor=request.user, seen=request.POST.get(f"proposal-{t.pk}", "")
                    ),
                    said=lambda outcome: log_words.confirmed(outcome, approving=True),
                )
                for t in tickets
            ]
            return self._report(request, done)
        # The maker's own proposals are refused now: the "are you sure?" page had come first, then the refusal.
        refused = []
        for ticket in tickets:
            try:
                review.refuse_own_proposal(ticket, request.user)
            except BillingError as exc:
                refused.append((ticket, exc.message, False))
        if refused:
            return self._report(request, refused)
        return self._confirmation(
            request, queryset, _("Approve proposed credit"), "approve_credit", [(t, None) for t in tickets]
        )

    @admin.action(description=gettext_lazy("Withdraw the proposed credit"), permissions=["credit"])
    def withdraw_proposal(self, request, queryset):
        tickets = list(queryset.select_related("account", "proposed_by"))
        form = SendBackForm(request.POST if "post" in request.POST else None)
        if "post" in request.POST and form.is_valid():
            said = _("proposal withdrawn; confirm it again with the right figures")
            why = form.cleaned_data["why"]
            done = [
                self._run(
                    request,
                    t,
                    lambda t=t: review.withdraw_proposal(ticket_id=t.pk, actor=request.user, why=why),
                    said,
                    log_words.withdrawn(t, why),
                )
                for t in tickets
            ]
            return self._report(request, done)
        return self._confirmation(
            request,
            queryset,
            _("Withdraw the proposed credit"),
            "withdraw_proposal",
            [(t, None) for t in tickets],
            reason_form=form,
        )

    @admin.action(description=gettext_lazy("Request more information from the customer"), permissions=["review"])
    def request_information(self, request, queryset):
        return self._with_reason(
            request,
            queryset,
            _("Request more information"),
            "request_information",
            lambda t, reason: review.request_information(ticket_id=t.pk, actor=request.user, message=reason),
            log_words.asked,
        )

    @admin.action(description=gettext_lazy("Reject the selected tickets"), permissions=["review"])
    def reject(self, request, queryset):
        return self._with_reason(
            request,
            queryset,
            _("Reject"),
            "reject",
            lambda t, reason: review.reject_ticket(ticket_id=t.pk, actor=request.user, reason=reason),
            log_words.rejected,
        )

    @admin.action(description=gettext_lazy("Mark the selected tickets as under review"), permissions=["review"])
    def start_review(self, request, queryset):
        said = log_words.under_review()
        done = [
            self._run(request, t, lambda t=t: review.start_review(ticket_id=t.pk, actor=request.user), said=said)
            for t in queryset
        ]
        return self._report(request, done)

    def _with_reason(self, request, queryset, title, action, run, said):
        form = ReasonForm(request.POST if "post" in request.POST else None)
        if "post" in request.POST and form.is_valid():
            reason = form.cleaned_data["reason"]
            done = [self._run(request, t, lambda t=t: run(t, reason), said=said(reason)) for t in queryset]
            return self._report(request, done)
        return self._confirmation(request, queryset, title, action, [(t, None) for t in queryset], reason_form=form)

    def _run(self, request, ticket, call, done: str = "", said=None) -> tuple[TransferTicket, str, bool]:
        """One ticket's outcome as (ticket, what happened, ok); a refusal is reported, not raised. `done` names
        what happened where the ticket's new status does not. `said` is what admin's audit trail keeps of it
        (tickets.admin.log_words), or a function of the outcome that says it: nothing is kept of a refusal, nor of
        a ticket the call left as it was (billing_center.admin_log)."""
        try:
            result = call()
        except BillingError as exc:
            return ticket, exc.message, False
        said = said(result) if callable(said) else said
        if said is not None:
            log_done(request, result.ticket if isinstance(result, ConfirmOutcome) else result, said, before=ticket)
        if done:
            return ticket, done, True
        if isinstance(result, ConfirmOutcome):
            if result.already:
                return ticket, _("was already credited — nothing changed"), True
            if not result.credited:
                amount = format_money(result.ticket.credit_amount)
                return ticket, _("proposal of %(amount)s awaits a second approver") % {"amount": amount}, True
            return ticket, _("credited %(amount)s") % {"amount": format_money(result.ticket.credit_amount)}, True
        labels = {
            TransferTicket.Status.INFO_REQUESTED: _("asked the customer for more information"),
            TransferTicket.Status.REJECTED: _("rejected; the customer was told why"),
            TransferTicket.Status.UNDER_REVIEW: _("marked as under review"),
        }
        return ticket, labels.get(result.status, result.get_status_display().lower()), True

    def _report(self, request, done) -> HttpResponseRedirect | None:
        """What became of each (billing_center.admin_base.report_outcomes); back to the ticket when there was
        one (the ticket page's buttons), to the queue (None: Django's default) when several were selected there."""
        report_outcomes(self, request, [(ticket.number, what, ok) for ticket, what, ok in done])
        if len(done) != 1:
            return None
        ticket = done[0][0]
        return HttpResponseRedirect(reverse("admin:tickets_transferticket_change", args=[ticket.pk]))

    def _confirmation(self, request, queryset, title, action, rows, reason_form=None):
        return confirmation_page(
            self,
            request,
            "admin/tickets/transferticket/action_confirmation.html",
            action=action,
            action_title=title,
            rows=[
                (ticket, form, labels.status_label(ticket), _approval_above(ticket, action)) for ticket, form in rows
            ],
            reason_form=reason_form,
            queryset=queryset,
        )

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = "".join(search_term.split()).upper()
        if term.startswith("RF"):
            queryset |= self.model.objects.filter(Q(payment_reference=term))
        return queryset, may_have_duplicates


def _approval_above(ticket: TransferTicket, action: str):
    """What confirming the ticket only proposes above, said on its confirmation page: the clerk had read "Confirm and
    credit: yes, I'm sure" and learnt afterwards that it was only proposed (found by a helper)."""
    return review.second_approval_above(ticket.account.billing_currency) if action == "confirm_and_credit" else None
