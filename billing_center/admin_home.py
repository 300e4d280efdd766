"""The admin home: what finance has to do, at the top, each count a link to the list it counts.

A composition root, like urls: it asks each app's selectors (the same reads as the lists' filters,
so a count and the list it opens agree), and those apps never import each other."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.admin import ModelAdmin
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django_otp.admin import OTPAdminSite

from accounts.selectors import failed_sms, flagged_accounts
from tickets import selectors as tickets
from tickets.admin.holiday_calendar import calendar_warning
from tickets.admin.labels import AWAITING_APPROVAL
from tickets.models import TransferTicket
from topups.selectors import flagged_refunds, flagged_topups, open_disputes

from .admin_base import answering_400_on_errors, refusing_impossible_dates, refusing_mangled_selections


@dataclass(frozen=True)
class Todo:
    key: str
    label: str
    count: int
    url: str
    urgent: bool  # a count above zero is shown in red


QUEUE = "admin:tickets_transferticket_changelist"
WAITING = TransferTicket.WAITING_ON_FINANCE
QUEUE_PERMISSION = "tickets.view_transferticket"
LINES = "admin:tickets_statementline_changelist"


def todo_items(user, *, now: datetime) -> list[Todo]:
    """The counts this user may open: each needs the view permission of the list it links to."""
    # key, label, permission, the rows counted, the list that shows them (filtered), urgent
    wanted = [
        ("overdue", _("Overdue tickets"), "tickets.view_transferticket",
         lambda: tickets.overdue_tickets(now=now), QUEUE, {"due": "overdue"}, True),
        ("due-today", _("Tickets due today"), "tickets.view_transferticket",
         lambda: tickets.tickets_due_today(now=now), QUEUE, {"due": "today"}, False),
        ("waiting-on-finance", _("Tickets waiting on finance"), "tickets.view_transferticket",
         tickets.tickets_waiting_on_finance, QUEUE, {"status__in": ",".join(WAITING), "approval": "none"}, False),
        ("awaiting-approval", AWAITING_APPROVAL, "tickets.view_transferticket",
         tickets.tickets_awaiting_second_approval, QUEUE, {"approval": "waiting"}, False),
        ("unmatched-lines", _("Unmatched bank statement lines"), "tickets.view_statementline",
         tickets.unmatched_statement_lines, LINES, {"state__exact": "unmatched"}, True),
        ("other-currency-lines", _("Statement lines in another currency"), "tickets.view_statementline",
         tickets.other_currency_statement_lines, LINES, {"state__exact": "other_currency"}, True),
        ("lines-to-confirm", _("Statement lines to confirm"), "tickets.view_statementline",
         tickets.statement_lines_to_confirm, LINES, {"state__exact": "matched", "proposed_by__isnull": "True"}, False),
        ("lines-awaiting-approval", _("Statement lines awaiting second approval"), "tickets.view_statementline",
         tickets.statement_lines_awaiting_second_approval, LINES,
         {"state__exact": "matched", "proposed_by__isnull": "False"}, False),
        ("flagged-topups", _("Flagged top-ups"), "topups.view_topup",
         flagged_topups, "admin:topups_topup_changelist", {"needs_review__exact": "1"}, False),
        ("flagged-refunds", _("Flagged refunds"), "topups.view_refund",
         flagged_refunds, "admin:topups_refund_changelist", {"needs_review__exact": "1"}, False),
        ("flagged-accounts", _("Flagged accounts"), "accounts.view_account",
         flagged_accounts, "admin:accounts_account_changelist", {"needs_review__exact": "1"}, False),
        ("open-disputes", _("Open disputes"), "topups.view_dispute",
         open_disputes, "admin:topups_dispute_changelist", {"status__exact": "open"}, True),
        ("failed-sms", _("Failed SMS, last 7 days"), "accounts.view_outboundsms",
         lambda: failed_sms(now=now, within="7d"), "admin:accounts_outboundsms_changelist",
         {"status__exact": "failed", "within": "7d"}, True),
    ]  # fmt: skip
    return [
        Todo(key, label, rows().count(), f"{reverse(changelist)}?{urlencode(query)}", urgent)
        for key, label, permission, rows, changelist, query, urgent in wanted
        if user.has_perm(permission)
    ]


class FinanceAdminSite(OTPAdminSite):
    """django-otp's admin site (password and one-time code), whose home starts with the to-do counts."""

    site_url = None  # no "View site": staff have no customer pages, and "/" only led back here
    login_template = "admin/login_with_code.html"

    def admin_view(self, view, cacheable=False):
        model_admin = getattr(view, "__self__", None)  # a ModelAdmin's views are its bound methods
        if isinstance(model_admin, ModelAdmin) and view.__name__ == "changelist_view":
            view = refusing_impossible_dates(model_admin, refusing_mangled_selections(model_admin, view))
        if isinstance(model_admin, ModelAdmin) and view.__name__ in ("add_view", "change_view"):
            view = answering_400_on_errors(view)
        return super().admin_view(view, cacheable)

    def index(self, request, extra_context=None):
        now = timezone.now()
        todo = todo_items(request.user, now=now)
        # Deadlines rest on the holiday calendar: whoever reads the queue hears when next year's is empty.
        warning = calendar_warning(request.user, now=now) if request.user.has_perm(QUEUE_PERMISSION) else {}
        return super().index(request, {"todo": todo, **warning, **(extra_context or {})})
