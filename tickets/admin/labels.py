"""The words and badges finance reads about a ticket, the same in the queue, on the ticket page and
on every confirmation page. Colours are classes of css/admin-tickets.css."""

from datetime import datetime

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import TicketEvent, TransferTicket
from ..selectors import end_of_finance_day

# The customer's status words (TransferTicket.Status), plus one only finance sees: a credit a
# maker proposed is open for the customer, but for finance it waits on a second person.
AWAITING_APPROVAL = gettext_lazy("Awaiting second approval")

_TONES = {
    TransferTicket.Status.CREDITED: "done",
    TransferTicket.Status.REJECTED: "refused",
    TransferTicket.Status.INFO_REQUESTED: "waiting",
}


def status_label(ticket: TransferTicket) -> str:
    return str(AWAITING_APPROVAL) if ticket.awaiting_approval else ticket.get_status_display()


def status_badge(ticket: TransferTicket) -> SafeString:
    tone = "waiting" if ticket.awaiting_approval else _TONES.get(ticket.status, "open")
    return format_html('<span class="ticket-badge tone-{}" data-testid="status">{}</span>', tone, status_label(ticket))


def due_badge(ticket: TransferTicket, *, now: datetime) -> SafeString | str:
    """Overdue, due today, or the local date it is due; nothing once the ticket is closed."""
    if not ticket.is_open:
        return "—"
    if ticket.due_at < now:
        tone, label = "refused", _("Overdue")
    elif ticket.due_at <= end_of_finance_day(now):
        tone, label = "waiting", _("Due today")
    else:
        tone, label = "quiet", f"{timezone.localtime(ticket.due_at):%Y-%m-%d}"
    return format_html('<span class="ticket-badge tone-{}">{}</span>', tone, label)


def flags(ticket: TransferTicket, *, latest_kind: str | None) -> list[tuple[str, str, str]]:
    """(tone, text, test id) of what makes a ticket worth a second look."""
    found = []
    # A warning, not a green tick: a flagged ticket is the one to look at twice.
    if ticket.possible_duplicate:
        found.append(("refused", "⚠ " + _("Possible duplicate"), "duplicate-flag"))
    if latest_kind == TicketEvent.Kind.CUSTOMER_REPLY and ticket.is_open:
        found.append(("open", _("Customer replied"), "replied-flag"))
    return found


def status_with_flags(ticket: TransferTicket, *, latest_kind: str | None) -> SafeString:
    """The queue's status cell: the status, then each flag on its own line."""
    badges = format_html_join(
        "",
        '<br><span class="ticket-badge tone-{}" data-testid="{}">{}</span>',
        ((tone, testid, text) for tone, text, testid in flags(ticket, latest_kind=latest_kind)),
    )
    return format_html("{}{}", status_badge(ticket), badges)
