"""Finance reviews a Transfer Ticket in admin: asks for information, rejects, or confirms
the transfer found on the bank statement and credits it — once, and above
TICKET_SECOND_APPROVAL_ABOVE only with a second finance user's approval."""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from djmoney.money import Money

from accounts import descriptions, selectors
from accounts.descriptions import Description, describe, parts_of
from accounts.models import LedgerEntry
from accounts.notifications import queue_templated_email, recipient_language
from bills.settlement import credit_payment
from money.errors import Invalid
from money.formatting import format_money
from money.rates import current_quote

from . import notes
from .events import status_changed
from .exceptions import TicketNotAllowed, TicketStateError
from .models import StatementLine, TicketEvent, TransferTicket, transfer_source_ref
from .selectors import statement_lines_for_transfer
from .statements.credited_elsewhere import note_credited_elsewhere
from .statements.parsed import compact_reference
from .statements.transfer_lines import lock_ticket_transfer
from .transfers import refuse_used_transfer

logger = logging.getLogger(__name__)
CREDIT_PERMISSION = "tickets.credit_transferticket"
REVIEW_PERMISSION = "tickets.review_transferticket"


def _require(actor, permission: str) -> None:
    if not (actor.is_active and actor.is_staff and actor.has_perm(permission)):
        raise TicketNotAllowed(_("Only finance staff can do this."))


def _lock_ticket(ticket_id: int) -> TransferTicket:
    """The ticket alone, before the account, which the money's writer locks (post_ledger_entry): always that order."""
    return TransferTicket.objects.select_for_update(of=("self",)).select_related("account").get(pk=ticket_id)


def _lock_open_ticket(ticket_id: int, action: str) -> TransferTicket:
    return _ensure_open(_lock_ticket(ticket_id), action)


def _ensure_open(ticket: TransferTicket, action: str) -> TransferTicket:
    if not ticket.is_open:
        values = {"number": ticket.number, "status": ticket.get_status_display().lower(), "action": action}
        if ticket.decided_by_id:
            message = _("%(number)s was already %(status)s by %(user)s; cannot %(action)s.")
            values["user"] = ticket.decided_by
        else:
            message = _("%(number)s was already %(status)s; cannot %(action)s.")
        raise TicketStateError(message % values)
    return ticket


def second_approval_above(currency: str) -> Money | None:
    """Above what a credit in `currency` is only proposed, for a second finance user to approve (None: every one)."""
    limit = settings.TICKET_SECOND_APPROVAL_ABOVE.get(currency)
    return None if limit is None else Money(limit, currency)


def needs_second_approval(ticket: TransferTicket) -> bool:
    """Above the threshold two people are needed. The customer's declared amount counts too,
    so a maker cannot slip a large transfer past the checker by typing a smaller figure."""
    credit, limit = ticket.credit_amount, second_approval_above(str(ticket.credit_amount.currency))
    declared = ticket.amount.amount if ticket.amount.currency == credit.currency else credit.amount
    return limit is None or max(credit.amount, declared) > limit.amount


def _refuse_own_account(ticket: TransferTicket, actor) -> None:
    if ticket.submitted_by_id == actor.pk or selectors.acts_for(actor, ticket.account_id):
        raise TicketNotAllowed(_("This ticket is for your own account; another finance user must handle it."))


@dataclass(frozen=True)
class ConfirmOutcome:
    ticket: TransferTicket
    credited: bool  # False: proposed and waiting for a second finance user
    already: bool = False  # a double click or another clerk got there first


def confirm_and_credit(
    *, ticket_id: int, actor, received: Money, bank_reference: str, now: datetime | None = None
) -> ConfirmOutcome:
    """Finance found the money on the bank statement: credit it, once. Above second_approval_above the figures are
    only proposed, for a different finance user to approve (approve_credit). Confirming a credited ticket again
    changes nothing."""
    now = now or timezone.now()
    _require(actor, CREDIT_PERMISSION)
    if received.amount <= 0:
        raise Invalid(_("The amount received must be more than zero."), code="amount")
    try:
        with transaction.atomic():
            lock_ticket_transfer(ticket_id, reference=bank_reference, amount=received.amount)
            ticket = _lock_ticket(ticket_id)
            if ticket.status == TransferTicket.Status.CREDITED:
                return ConfirmOutcome(ticket, credited=True, already=True)
            _ensure_open(ticket, _("credit it"))
            _refuse_own_account(ticket, actor)
            if ticket.awaiting_approval:
                if ticket.proposed_by_id == actor.pk:
                    raise TicketNotAllowed(_("You proposed this credit; a second finance user must approve it."))
                raise TicketStateError(
                    _("%(user)s proposed a credit of %(amount)s; approve that proposal or reject the ticket.")
                    % {"user": ticket.proposed_by, "amount": format_money(ticket.credit_amount)}
                )
            _price(ticket, received=received, bank_reference=bank_reference, now=now)
            refuse_used_transfer(ticket)
            if needs_second_approval(ticket):
                ticket.proposed_by, ticket.proposed_at = actor, now
                ticket.status = TransferTicket.Status.UNDER_REVIEW
                ticket._history_user = actor
                ticket.save()
                _event(ticket, TicketEvent.Kind.PROPOSED, actor, now, public=False, body=notes.proposal(ticket))
                return ConfirmOutcome(ticket, credited=False)
            _credit(ticket, actor=actor, now=now)
            return ConfirmOutcome(ticket, credited=True)
    except IntegrityError as exc:
        # Two tickets confirmed at once with the same statement reference: the unique
        # constraint lets one through; the other is told, nothing of it was written.
        raise TicketStateError(
            _(
                "Statement reference %(reference)s was just used for another ticket. "
                "If this is a different transfer, enter its own statement reference."
            )
            % {"reference": bank_reference}
        ) from exc


def approve_credit(*, ticket_id: int, actor, seen: str | None = None, now: datetime | None = None) -> ConfirmOutcome:
    """The checker approves the maker's proposal; the credit posts with the proposed figures.

    `seen` is the proposal's fingerprint as the checker's page showed it (TransferTicket.proposal_fingerprint): a
    proposal withdrawn and made again with other figures meanwhile is refused, not approved unseen."""
    now = now or timezone.now()
    _require(actor, CREDIT_PERMISSION)
    with transaction.atomic():
        lock_ticket_transfer(ticket_id)  # the proposal's transfer, before the ticket's row
        ticket = _lock_ticket(ticket_id)
        if ticket.status == TransferTicket.Status.CREDITED:
            return ConfirmOutcome(ticket, credited=True, already=True)
        _ensure_open(ticket, _("approve it"))
        if not ticket.awaiting_approval:
            raise TicketStateError(
                _("%(number)s has no proposed credit to approve; confirm it first.") % {"number": ticket.number}
            )
        refuse_own_proposal(ticket, actor)
        _refuse_own_account(ticket, actor)
        if seen is not None and seen != ticket.proposal_fingerprint:
            changed = _("The proposal for %(number)s changed since your page showed it: open it again to see it.")
            raise TicketStateError(changed % {"number": ticket.number})
        _credit(ticket, actor=actor, now=now)
        return ConfirmOutcome(ticket, credited=True)


def refuse_own_proposal(ticket: TransferTicket, actor) -> None:
    """The maker never approves their own proposal (asked before admin's confirmation page too)."""
    if ticket.proposed_by_id is not None and actor.pk == ticket.proposed_by_id:
        raise TicketNotAllowed(_("A second, different finance user must approve this credit."))


def withdraw_proposal(*, ticket_id: int, actor, why: str = "", now: datetime | None = None) -> TransferTicket:
    """Take back a proposed credit (a mistyped amount or reference): the maker, or the checker sending it back.
    The ticket stays under review without figures, the statement reference is free again, and the thread
    records who withdrew what, and `why` when given (the checker's word to the maker, internal); confirming
    again proposes afresh."""
    now = now or timezone.now()
    _require(actor, CREDIT_PERMISSION)
    with transaction.atomic():
        ticket = _lock_open_ticket(ticket_id, _("withdraw its proposal"))
        if not ticket.awaiting_approval:
            raise TicketStateError(_("%(number)s has no proposed credit to withdraw.") % {"number": ticket.number})
        _clear_proposal(ticket, actor, now, why=why.strip())
        ticket._history_user = actor
        ticket.save()
        return ticket


def _price(ticket: TransferTicket, *, received: Money, bank_reference: str, now: datetime) -> None:
    """What the account receives for `received`, at a rate locked and stored now."""
    billing = ticket.account.billing_currency
    ticket.received_amount = received
    ticket.confirmed_bank_reference = compact_reference(bank_reference)
    if not ticket.confirmed_bank_reference:
        raise Invalid(_("Enter the reference of the transfer on our bank statement."), code="bank_reference")
    if str(received.currency) == billing:
        ticket.credit_amount, ticket.exchange_rate, ticket.rate_source, ticket.rate_as_of = received, None, "", None
        return
    quote = current_quote(billing_currency=billing, payment_currency=str(received.currency), now=now)
    ticket.credit_amount = quote.credit_for(received)
    if ticket.credit_amount.amount <= 0:
        raise Invalid(_("The amount received is too small to credit anything."), code="amount")
    ticket.exchange_rate, ticket.rate_source, ticket.rate_as_of = quote.rate, quote.source, quote.as_of


def _credit(ticket: TransferTicket, *, actor, now: datetime) -> None:
    """Credit the locked ticket through the one money-in function and mark it credited. A
    postpaid account's transfer is a repayment: it settles the bill it names first, then the oldest."""
    refuse_used_transfer(ticket)  # again at approval: a line set aside since the proposal
    lines = statement_lines_for_transfer(ticket)
    first = lines.filter(state=StatementLine.State.CREDITED).first()
    if first is not None and first.account_id == ticket.account_id:
        # Our statement's line credited this transfer first; its entry's source may be spelled otherwise
        # ("bank:BK-1005", written before sources were keyed by letters and digits): linked, not credited again.
        close_matched_ticket(ticket, entry=first.ledger_entry, actor=actor, now=now)
        return
    deposit = credit_payment(
        kind=LedgerEntry.Kind.BANK_TRANSFER,
        account_id=ticket.account_id,
        amount=ticket.credit_amount,
        # The transfer as our statement names it (the account it reached, where a line lists it): once in all.
        source_ref=transfer_source_ref(
            lines.values_list("receiving_account_id", flat=True).first() or ticket.receiving_account_id,
            ticket.confirmed_bank_reference,
        ),  # fmt: skip
        actor=actor,
        description=_description(ticket),
        bill_ids=[ticket.bill_id] if ticket.bill_id else [],
        now=now,
    )
    if deposit.already_credited:
        # The statement line for this transfer credited it first (the same ledger source), or,
        # where row locks are not real (SQLite), another request credited this ticket.
        if TransferTicket.objects.filter(ledger_entry=deposit.entry).exists():
            raise TicketStateError(_("%(number)s was already credited.") % {"number": ticket.number})
        close_matched_ticket(ticket, entry=deposit.entry, actor=actor, now=now)
        return
    ticket.ledger_entry = deposit.entry
    ticket.status = TransferTicket.Status.CREDITED
    ticket.decided_by, ticket.decided_at = actor, now
    ticket._history_user = actor
    ticket.save()
    _event(ticket, TicketEvent.Kind.CREDITED, actor, now, body=notes.credited(ticket))
    _link_statement_lines(ticket, actor=actor, now=now)
    _email_customer(ticket, "credited")


def _link_statement_lines(ticket: TransferTicket, *, actor, now: datetime) -> None:
    """The line of our statement for the transfer the ticket just credited (its reference, amount and
    account), imported before the credit, is linked to it: credited, never again. It had stayed
    "awaiting confirmation", counted on finance's to-do list, until a clerk confirmed it. A line that
    a statement import or a clerk holds right now is skipped, not waited for (it locks its line before
    the ticket): that path finds the credit itself."""
    if not ticket.confirmed_bank_reference:
        return
    lines = (
        statement_lines_for_transfer(ticket)
        .select_for_update(skip_locked=True)
        .filter(
            # A line in another currency too: the ticket converted it (it had stayed on the to-do list, and could be
            # set aside as returned to the payer although credited).
            state__in=(StatementLine.State.MATCHED, StatementLine.State.UNMATCHED, StatementLine.State.OTHER_CURRENCY),
        )
    )
    for line in lines:
        named = line.account_id  # matched to another account since refuse_used_transfer looked: said, flagged
        line.account_id, line.ticket = ticket.account_id, ticket
        line.ledger_entry, line.state = ticket.ledger_entry, StatementLine.State.CREDITED
        line.credited_by, line.credited_at = actor, now
        notes.explain(line, describe(notes.ALREADY_CREDITED, number=ticket.number))
        if named is not None and named != ticket.account_id:
            note_credited_elsewhere(line, named, now=now)
        line.save()


def close_matched_ticket(ticket: TransferTicket, *, entry: LedgerEntry, actor, now: datetime) -> None:
    """The locked open ticket's transfer was credited from our bank statement: link it to that
    credit and close it, crediting nothing again. The customer is told when it arrived."""
    line = StatementLine.objects.filter(ledger_entry=entry).order_by("pk").first()
    booked_on = line.booking_date if line else entry.created_at.date()
    ticket.ledger_entry = entry
    ticket.status = TransferTicket.Status.CREDITED
    ticket.received_amount = ticket.received_amount or (line.money if line else entry.amount)
    ticket.credit_amount = entry.amount
    if line:
        ticket.confirmed_bank_reference = line.bank_reference
        StatementLine.objects.filter(ledger_entry=entry, ticket__isnull=True).update(ticket=ticket)
    ticket.decided_by, ticket.decided_at = actor, now
    ticket._history_user = actor
    ticket.save()
    _event(ticket, TicketEvent.Kind.CREDITED, actor, now, body=notes.credited(ticket, matched_on=booked_on))
    _email_customer(ticket, "credited")


def _description(ticket: TransferTicket) -> Description:
    if ticket.exchange_rate is None:
        return describe(descriptions.BANK_TRANSFER, reference=ticket.number)
    rate = ticket.exchange_rate_shown
    return describe(
        descriptions.BANK_TRANSFER_CONVERTED, reference=ticket.number, received=ticket.received_amount, rate=rate
    )


def start_review(*, ticket_id: int, actor, now: datetime | None = None) -> TransferTicket:
    now = now or timezone.now()
    _require(actor, REVIEW_PERMISSION)
    with transaction.atomic():
        ticket = _lock_open_ticket(ticket_id, _("start a review"))
        if ticket.status == TransferTicket.Status.SUBMITTED:
            ticket.status = TransferTicket.Status.UNDER_REVIEW
            ticket._history_user = actor
            ticket.save()
            _event(ticket, TicketEvent.Kind.UNDER_REVIEW, actor, now)
        return ticket


def request_information(*, ticket_id: int, actor, message: str, now: datetime | None = None) -> TransferTicket:
    now = now or timezone.now()
    _require(actor, REVIEW_PERMISSION)
    message = message.strip()
    if not message:
        raise Invalid(_("Say what information you need from the customer."), code="empty_message")
    with transaction.atomic():
        ticket = _lock_open_ticket(ticket_id, _("ask for information"))
        ticket.status = TransferTicket.Status.INFO_REQUESTED
        _clear_proposal(ticket, actor, now)
        ticket._history_user = actor
        ticket.save()
        _event(ticket, TicketEvent.Kind.INFO_REQUESTED, actor, now, body=message)
        _email_customer(ticket, "info_requested", extra=f":{ticket.events.count()}", message=message)
        return ticket


def reject_ticket(*, ticket_id: int, actor, reason: str, now: datetime | None = None) -> TransferTicket:
    now = now or timezone.now()
    _require(actor, REVIEW_PERMISSION)
    reason = reason.strip()
    if not reason:
        raise Invalid(_("Give the customer a reason for the rejection."), code="empty_reason")
    with transaction.atomic():
        ticket = _lock_open_ticket(ticket_id, _("reject it"))
        ticket.status = TransferTicket.Status.REJECTED
        _clear_proposal(ticket, actor, now)
        ticket.decided_by, ticket.decided_at, ticket.decision_note = actor, now, reason
        ticket._history_user = actor
        ticket.save()
        _event(ticket, TicketEvent.Kind.REJECTED, actor, now, body=reason)
        _email_customer(ticket, "rejected", message=reason)
        return ticket


def _clear_proposal(ticket: TransferTicket, actor, now: datetime, *, why: str = "") -> None:
    """A pending proposal is withdrawn (recorded, with why when given) and its statement reference freed."""
    if ticket.proposed_by_id is not None:
        proposal = notes.proposal(ticket)
        body = describe(notes.SENT_BACK, proposal=proposal, why=why) if why else proposal
        _event(ticket, TicketEvent.Kind.PROPOSAL_WITHDRAWN, actor, now, public=False, body=body)
    ticket.proposed_by, ticket.proposed_at = None, None
    ticket.confirmed_bank_reference = ""


def _event(ticket, kind, actor, now, *, public: bool = True, body: str = "") -> TicketEvent:
    """A line of the thread; `body` is what a clerk wrote, or a note of ours (tickets.notes) with its parts."""
    status_changed(ticket, kind, now)
    return TicketEvent.objects.create(
        ticket=ticket,
        kind=kind,
        actor=actor,
        from_finance=actor is not None,
        public=public,
        body=body,
        body_parts=parts_of(body),
        created_at=now,
    )


def _email_customer(ticket: TransferTicket, what: str, *, extra: str = "", message: str = "") -> None:
    """Through the outbox, in the caller's transaction: a rollback mails nothing."""
    url = settings.SITE_URL + reverse("tickets:detail", args=[ticket.number])
    subjects = {
        "credited": gettext_lazy("%(number)s: your bank transfer was credited"),
        "rejected": gettext_lazy("%(number)s: we could not credit your bank transfer"),
        "info_requested": gettext_lazy("%(number)s: we need more information about your bank transfer"),
    }
    # To the signed-in user's own address, never to the contact typed into the form: a
    # ticket must not make us e-mail a stranger.
    to = ticket.submitted_by.email
    if not to:
        logger.info("No e-mail address for %s; %s not mailed for %s", ticket.submitted_by, what, ticket.number)
        return
    with recipient_language(ticket.submitted_by):
        queue_templated_email(
            dedupe_key=f"ticket:{ticket.public_id}:{what}{extra}",
            to=to,
            subject=str(subjects[what]) % {"number": ticket.number},
            template=f"tickets/email_{what}.txt",
            context={"ticket": ticket, "url": url, "message": message},
            account=ticket.account,
        )
