"""Every write to receiving accounts, invoices and transfer tickets goes through here."""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from accounts.models import Account, LedgerEntry
from accounts.services import post_ledger_entry, queue_email
from money.errors import BillingError
from money.formatting import format_money, format_rate
from money.rates import current_quote

from .certificates import CheckedCertificate
from .exceptions import TicketNotAllowed, TicketStateError
from .models import Certificate, Invoice, ReceivingAccount, TicketEvent, TransferTicket
from .working_days import due_at

logger = logging.getLogger(__name__)
MAX_CERTIFICATES_PER_TICKET_TOTAL = 10
CREDIT_PERMISSION = "tickets.credit_transferticket"
REVIEW_PERMISSION = "tickets.review_transferticket"


# --- Receiving accounts and invoices ----------------------------------------------------


@transaction.atomic
def add_receiving_account(*, account: ReceivingAccount, now: datetime | None = None) -> ReceivingAccount:
    """Make `account` (unsaved) the current one for its currency and region, retiring the previous."""
    now = now or timezone.now()
    previous = list(
        ReceivingAccount.objects.select_for_update().filter(
            currency=account.currency, region=account.region, retired_at__isnull=True
        )
    )
    for old in previous:
        old.retired_at = now
        old.save(update_fields=["retired_at"])
    account.valid_from = now
    account.retired_at = None
    account.save()
    return account


def retire_receiving_account(*, account_id: int, now: datetime | None = None) -> ReceivingAccount:
    account = ReceivingAccount.objects.get(pk=account_id)
    if account.retired_at is None:
        account.retired_at = now or timezone.now()
        account.save(update_fields=["retired_at"])
    return account


@transaction.atomic
def issue_invoice(*, invoice: Invoice) -> Invoice:
    """Issue `invoice` (unsaved) printed with the receiving account current today for its
    currency, numbered INV-<year>-<id>. Issued invoices are never edited."""
    if invoice.amount is None or invoice.amount.amount <= 0:
        raise BillingError("An invoice amount must be more than zero.", code="invoice_amount")
    currency = str(invoice.amount.currency)
    if invoice.receiving_account_id is None:
        invoice.receiving_account = (
            ReceivingAccount.objects.filter(currency=currency, retired_at__isnull=True).order_by("region").first()
        )
    bank = invoice.receiving_account
    if bank is None or not bank.is_current:
        raise BillingError(
            f"There is no current receiving account in {currency}. Add one before issuing this invoice.",
            code="no_receiving_account",
        )
    if bank.currency != currency:
        raise BillingError("The invoice and its receiving account must be in the same currency.", code="currency")
    invoice.save()
    invoice.number = f"INV-{invoice.issue_date:%Y}-{invoice.pk:06d}"
    invoice.save(update_fields=["number"])
    return invoice


# --- Customer side --------------------------------------------------------------------


@dataclass(frozen=True)
class TicketDetails:
    """What the customer typed on the Create Service Ticket page, already validated."""

    payer_name: str
    payer_bank: str
    payer_account: str
    amount: Money
    transfer_date: date
    bank_reference: str
    receiving_account: ReceivingAccount
    contact_name: str
    contact_email: str
    contact_phone: str = ""
    invoice: Invoice | None = None
    payment_reference: str = ""
    problem_description: str = ""


def submit_ticket(
    *,
    account_id: int,
    user,
    details: TicketDetails,
    certificates: list[CheckedCertificate],
    now: datetime | None = None,
) -> TransferTicket:
    """Record a transfer ticket under the signed-in user's account, with its certificates.

    The due time is computed here, once. Files are stored before their rows; if anything
    fails the stored files are removed again, so no row ever points at a missing file and
    no file is left without its ticket.
    """
    now = now or timezone.now()
    account = Account.objects.get(pk=account_id)
    if not account.can_top_up:
        raise TicketNotAllowed(account.topup_refusal)
    if not 1 <= len(certificates) <= 5:
        raise BillingError("Attach between one and five certificates.", code="certificate_count")
    if details.invoice is not None and details.invoice.account_id != account.pk:
        raise BillingError("That invoice number is not one of your invoices.", code="invoice_not_found")
    stored: list[Certificate] = []
    try:
        with transaction.atomic():
            ticket = TransferTicket(
                account=account, submitted_by=user, submitted_at=now, due_at=due_at(now), **details.__dict__
            )
            ticket._history_user = user
            ticket.save()
            ticket.number = f"BT-{now:%Y}-{ticket.pk:06d}"
            ticket.save(update_fields=["number"])
            event = TicketEvent.objects.create(
                ticket=ticket,
                kind=TicketEvent.Kind.SUBMITTED,
                actor=user,
                body=details.problem_description,
                created_at=now,
            )
            stored = _store_certificates(ticket, event, user, certificates, now)
            _flag_duplicates(ticket)
    except Exception:
        _delete_files(stored)
        raise
    return ticket


def reply_to_ticket(
    *, ticket_id: int, user, body: str, certificates: list[CheckedCertificate], now: datetime | None = None
) -> TicketEvent:
    """The customer answers finance (or adds a certificate); an open ticket goes back to review."""
    now = now or timezone.now()
    body = body.strip()
    if not body and not certificates:
        raise BillingError("Write a message or attach a certificate.", code="empty_reply")
    stored: list[Certificate] = []
    try:
        with transaction.atomic():
            ticket = TransferTicket.objects.select_for_update().get(pk=ticket_id)
            if not ticket.is_open:
                raise TicketStateError(
                    f"This ticket is {ticket.get_status_display().lower()}; open a new ticket for another transfer."
                )
            if ticket.certificates.count() + len(certificates) > MAX_CERTIFICATES_PER_TICKET_TOTAL:
                raise BillingError(
                    f"A ticket holds at most {MAX_CERTIFICATES_PER_TICKET_TOTAL} certificates.",
                    code="certificate_count",
                )
            event = TicketEvent.objects.create(
                ticket=ticket, kind=TicketEvent.Kind.CUSTOMER_REPLY, actor=user, body=body, created_at=now
            )
            stored = _store_certificates(ticket, event, user, certificates, now)
            if ticket.status == TransferTicket.Status.INFO_REQUESTED:
                ticket.status = TransferTicket.Status.UNDER_REVIEW
                ticket.save(update_fields=["status", "updated_at"])
            if stored:
                _flag_duplicates(ticket)
    except Exception:
        _delete_files(stored)
        raise
    return event


def _store_certificates(ticket, event, user, certificates: list[CheckedCertificate], now) -> list[Certificate]:
    stored = []
    for checked in certificates:
        certificate = Certificate(
            ticket=ticket,
            message=event,
            original_name=checked.original_name,
            content_type=checked.content_type,
            extension=checked.extension,
            size=checked.size,
            sha256=checked.sha256,
            uploaded_by=user,
            uploaded_at=now,
        )
        certificate.file.save(f"certificate{checked.extension}", ContentFile(checked.content), save=False)
        stored.append(certificate)
        certificate.save()
    return stored


def _delete_files(certificates: list[Certificate]) -> None:
    for certificate in certificates:
        try:
            certificate.file.storage.delete(certificate.file.name)
        except Exception:  # best effort: the original error is what matters
            logger.exception("Could not remove %s after a failed ticket write", certificate.file.name)


def _flag_duplicates(ticket: TransferTicket) -> None:
    """Mark this ticket and any other with the same bank reference or certificate file."""
    others = duplicate_tickets(ticket)
    if others:
        TransferTicket.objects.filter(Q(pk=ticket.pk) | Q(pk__in=[other.pk for other in others])).update(
            possible_duplicate=True
        )
        ticket.possible_duplicate = True


def duplicate_tickets(ticket: TransferTicket) -> list[TransferTicket]:
    """Other tickets that share this one's bank reference or one of its certificate files."""
    hashes = list(ticket.certificates.values_list("sha256", flat=True))
    return list(
        TransferTicket.objects.filter(
            Q(bank_reference__iexact=ticket.bank_reference) | Q(certificates__sha256__in=hashes)
        )
        .exclude(pk=ticket.pk)
        .select_related("account")
        .distinct()
        .order_by("submitted_at")
    )


# --- Finance side ---------------------------------------------------------------------


def _require(actor, permission: str) -> None:
    if not (actor.is_active and actor.is_staff and actor.has_perm(permission)):
        raise TicketNotAllowed("Only finance staff can do this.")


def _lock_ticket(ticket_id: int) -> TransferTicket:
    """The source row is locked before the account row (post_ledger_entry), always in that order."""
    return TransferTicket.objects.select_for_update().select_related("account").get(pk=ticket_id)


def _lock_open_ticket(ticket_id: int, action: str) -> TransferTicket:
    return _ensure_open(_lock_ticket(ticket_id), action)


def _ensure_open(ticket: TransferTicket, action: str) -> TransferTicket:
    if not ticket.is_open:
        by = f" by {ticket.decided_by}" if ticket.decided_by_id else ""
        raise TicketStateError(
            f"{ticket.number} was already {ticket.get_status_display().lower()}{by}; cannot {action}."
        )
    return ticket


def needs_second_approval(ticket: TransferTicket) -> bool:
    """Above the threshold two people are needed. The customer's declared amount counts too,
    so a maker cannot slip a large transfer past the checker by typing a smaller figure."""
    credit = ticket.credit_amount
    limit = settings.TICKET_SECOND_APPROVAL_ABOVE.get(str(credit.currency))
    if limit is None or credit.amount > limit:
        return True
    return str(ticket.amount.currency) == str(credit.currency) and ticket.amount.amount > limit


def _refuse_own_account(ticket: TransferTicket, actor) -> None:
    if ticket.submitted_by_id == actor.pk or (actor.account_id and actor.account_id == ticket.account_id):
        raise TicketNotAllowed("This ticket is for your own account; another finance user must handle it.")


def _refuse_reused_statement_line(ticket: TransferTicket) -> None:
    """One line of our bank statement pays one ticket: its reference cannot credit two."""
    other = (
        TransferTicket.objects.filter(confirmed_bank_reference__iexact=ticket.confirmed_bank_reference)
        .exclude(pk=ticket.pk)
        .values_list("number", flat=True)
        .first()
    )
    if other:
        raise TicketStateError(
            f"Statement reference {ticket.confirmed_bank_reference} was already used for {other}. "
            "If this is a different transfer, enter its own statement reference."
        )


@dataclass(frozen=True)
class ConfirmOutcome:
    ticket: TransferTicket
    credited: bool  # False: proposed and waiting for a second finance user
    already: bool = False  # a double click or another clerk got there first


def confirm_and_credit(
    *, ticket_id: int, actor, received: Money, bank_reference: str, now: datetime | None = None
) -> ConfirmOutcome:
    """Finance found the money on the bank statement: credit it, once.

    Above TICKET_SECOND_APPROVAL_ABOVE the figures are only proposed; a different finance
    user must approve them (approve_credit). A repeated confirmation of a credited ticket
    changes nothing.
    """
    now = now or timezone.now()
    _require(actor, CREDIT_PERMISSION)
    if received.amount <= 0:
        raise BillingError("The amount received must be more than zero.", code="amount")
    try:
        with transaction.atomic():
            ticket = _lock_ticket(ticket_id)
            if ticket.status == TransferTicket.Status.CREDITED:
                return ConfirmOutcome(ticket, credited=True, already=True)
            _ensure_open(ticket, "credit it")
            _refuse_own_account(ticket, actor)
            if ticket.awaiting_approval:
                if ticket.proposed_by_id == actor.pk:
                    raise TicketNotAllowed("You proposed this credit; a second finance user must approve it.")
                raise TicketStateError(
                    f"{ticket.proposed_by} proposed a credit of {format_money(ticket.credit_amount)}; "
                    "approve that proposal or reject the ticket."
                )
            _price(ticket, received=received, bank_reference=bank_reference, now=now)
            _refuse_reused_statement_line(ticket)
            if needs_second_approval(ticket):
                ticket.proposed_by, ticket.proposed_at = actor, now
                ticket.status = TransferTicket.Status.UNDER_REVIEW
                ticket._history_user = actor
                ticket.save()
                _event(ticket, TicketEvent.Kind.PROPOSED, actor, now, public=False, body=_credit_summary(ticket))
                return ConfirmOutcome(ticket, credited=False)
            _credit(ticket, actor=actor, now=now)
            return ConfirmOutcome(ticket, credited=True)
    except IntegrityError as exc:
        # Two tickets confirmed at once with the same statement reference: the unique
        # constraint lets one through; the other is told, nothing of it was written.
        raise TicketStateError(
            f"Statement reference {bank_reference} was just used for another ticket. "
            "If this is a different transfer, enter its own statement reference."
        ) from exc


def approve_credit(*, ticket_id: int, actor, now: datetime | None = None) -> ConfirmOutcome:
    """The checker approves the maker's proposal; the credit posts with the proposed figures."""
    now = now or timezone.now()
    _require(actor, CREDIT_PERMISSION)
    with transaction.atomic():
        ticket = _lock_ticket(ticket_id)
        if ticket.status == TransferTicket.Status.CREDITED:
            return ConfirmOutcome(ticket, credited=True, already=True)
        _ensure_open(ticket, "approve it")
        if not ticket.awaiting_approval:
            raise TicketStateError(f"{ticket.number} has no proposed credit to approve; confirm it first.")
        if actor.pk == ticket.proposed_by_id:
            raise TicketNotAllowed("A second, different finance user must approve this credit.")
        _refuse_own_account(ticket, actor)
        _credit(ticket, actor=actor, now=now)
        return ConfirmOutcome(ticket, credited=True)


def _price(ticket: TransferTicket, *, received: Money, bank_reference: str, now: datetime) -> None:
    """What the account receives for `received`, at a rate locked and stored now."""
    billing = ticket.account.billing_currency
    ticket.received_amount = received
    ticket.confirmed_bank_reference = "".join(bank_reference.split()).upper()[:60]
    if not ticket.confirmed_bank_reference:
        raise BillingError("Enter the reference of the transfer on our bank statement.", code="bank_reference")
    if str(received.currency) == billing:
        ticket.credit_amount, ticket.exchange_rate, ticket.rate_source, ticket.rate_as_of = received, None, "", None
        return
    quote = current_quote(billing_currency=billing, payment_currency=str(received.currency), now=now)
    ticket.credit_amount = quote.credit_for(received)
    if ticket.credit_amount.amount <= 0:
        raise BillingError("The amount received is too small to credit anything.", code="amount")
    ticket.exchange_rate, ticket.rate_source, ticket.rate_as_of = quote.rate, quote.source, quote.as_of


def _credit(ticket: TransferTicket, *, actor, now: datetime) -> None:
    try:
        with transaction.atomic():
            entry = post_ledger_entry(
                account_id=ticket.account_id,
                amount=ticket.credit_amount,
                kind=LedgerEntry.Kind.BANK_TRANSFER,
                source_ref=ticket.ledger_source_ref,
                actor=actor,
                description=f"Bank transfer {ticket.number}" + _rate_note(ticket),
                now=now,
            )
    except IntegrityError as exc:
        # Only reachable where row locks are not real (SQLite): the ledger's unique source
        # refused a second credit for this ticket.
        raise TicketStateError(f"{ticket.number} was already credited.") from exc
    ticket.ledger_entry = entry
    ticket.status = TransferTicket.Status.CREDITED
    ticket.decided_by, ticket.decided_at = actor, now
    ticket._history_user = actor
    ticket.save()
    _event(ticket, TicketEvent.Kind.CREDITED, actor, now, body=f"{format_money(ticket.credit_amount)} credited.")
    _email_customer(ticket, "credited")


def _rate_note(ticket: TransferTicket) -> str:
    if ticket.exchange_rate is None:
        return ""
    return (
        f": received {format_money(ticket.received_amount)} at {format_rate(ticket.exchange_rate)} "
        f"{ticket.received_amount.currency}/{ticket.credit_amount.currency}"
    )


def _credit_summary(ticket: TransferTicket) -> str:
    return f"Received {format_money(ticket.received_amount)}, credit {format_money(ticket.credit_amount)}" + (
        f" at {format_rate(ticket.exchange_rate)}" if ticket.exchange_rate else ""
    )


def start_review(*, ticket_id: int, actor, now: datetime | None = None) -> TransferTicket:
    now = now or timezone.now()
    _require(actor, REVIEW_PERMISSION)
    with transaction.atomic():
        ticket = _lock_open_ticket(ticket_id, "start a review")
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
        raise BillingError("Say what information you need from the customer.", code="empty_message")
    with transaction.atomic():
        ticket = _lock_open_ticket(ticket_id, "ask for information")
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
        raise BillingError("Give the customer a reason for the rejection.", code="empty_reason")
    with transaction.atomic():
        ticket = _lock_open_ticket(ticket_id, "reject it")
        ticket.status = TransferTicket.Status.REJECTED
        _clear_proposal(ticket, actor, now)
        ticket.decided_by, ticket.decided_at, ticket.decision_note = actor, now, reason
        ticket._history_user = actor
        ticket.save()
        _event(ticket, TicketEvent.Kind.REJECTED, actor, now, body=reason)
        _email_customer(ticket, "rejected", message=reason)
        return ticket


def _clear_proposal(ticket: TransferTicket, actor, now: datetime) -> None:
    """A pending proposal is withdrawn (recorded) and its statement reference freed."""
    if ticket.proposed_by_id is not None:
        _event(ticket, TicketEvent.Kind.PROPOSAL_WITHDRAWN, actor, now, public=False, body=_credit_summary(ticket))
    ticket.proposed_by, ticket.proposed_at = None, None
    ticket.confirmed_bank_reference = ""


def _event(ticket, kind, actor, now, *, public: bool = True, body: str = "") -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket, kind=kind, actor=actor, from_finance=actor is not None, public=public, body=body, created_at=now
    )


def _email_customer(ticket: TransferTicket, what: str, *, extra: str = "", message: str = "") -> None:
    """Through the outbox, in the caller's transaction: a rollback mails nothing."""
    url = settings.SITE_URL + reverse("tickets:detail", args=[ticket.number])
    subjects = {
        "credited": f"{ticket.number}: your bank transfer was credited",
        "rejected": f"{ticket.number}: we could not credit your bank transfer",
        "info_requested": f"{ticket.number}: we need more information about your bank transfer",
    }
    # To the signed-in user's own address, never to the contact typed into the form: a
    # ticket must not make us e-mail a stranger.
    to = ticket.submitted_by.email
    if not to:
        logger.info("No e-mail address for %s; %s not mailed for %s", ticket.submitted_by, what, ticket.number)
        return
    body = render_to_string(f"tickets/email_{what}.txt", {"ticket": ticket, "url": url, "message": message})
    queue_email(
        dedupe_key=f"ticket:{ticket.public_id}:{what}{extra}",
        to=to,
        subject=subjects[what],
        body=body,
        account=ticket.account,
    )


# --- Deadline watch (beat) -------------------------------------------------------------


def flag_ticket_deadlines(*, now: datetime | None = None) -> dict[str, int]:
    """Flag open tickets that are due soon or overdue, once per ticket and state.

    Tickets waiting on the customer (more information needed) are not finance's delay and
    are not flagged. Running this twice changes nothing: the flag is set by a conditional
    update and the event and e-mails are unique per ticket and state.
    """
    now = now or timezone.now()
    waiting_on_finance = [TransferTicket.Status.SUBMITTED, TransferTicket.Status.UNDER_REVIEW]
    counts = {"due_soon": 0, "overdue": 0}
    overdue = TransferTicket.objects.filter(status__in=waiting_on_finance, due_at__lt=now).exclude(
        deadline_flag=TransferTicket.Deadline.OVERDUE
    )
    soon = TransferTicket.objects.filter(
        status__in=waiting_on_finance,
        due_at__gte=now,
        due_at__lt=now + timedelta(hours=settings.TICKET_DUE_SOON_HOURS),
        deadline_flag=TransferTicket.Deadline.ON_TIME,
    )
    for state, queryset in (("overdue", overdue), ("due_soon", soon)):
        for ticket_id in list(queryset.values_list("pk", flat=True)[:1000]):
            if _flag(ticket_id, state, now):
                counts[state] += 1
    return counts


def _flag(ticket_id: int, state: str, now: datetime) -> bool:
    with transaction.atomic():
        ticket = TransferTicket.objects.select_for_update().select_related("account").get(pk=ticket_id)
        if (
            not ticket.is_open
            or ticket.deadline_flag == state
            or (state == "due_soon" and ticket.deadline_flag == TransferTicket.Deadline.OVERDUE)
        ):
            return False
        ticket.deadline_flag = state
        ticket.save(update_fields=["deadline_flag"])
        _, created = TicketEvent.objects.get_or_create(
            ticket=ticket, kind=state, defaults={"public": False, "created_at": now}
        )
        if created:
            _email_finance(ticket, state)
        return True


def finance_recipients() -> list[str]:
    if settings.FINANCE_NOTIFY_EMAILS:
        return list(settings.FINANCE_NOTIFY_EMAILS)
    group = Group.objects.filter(name=settings.FINANCE_GROUP).first()
    if group is None:
        return []
    return sorted(set(group.user_set.filter(is_active=True).exclude(email="").values_list("email", flat=True)))


def _email_finance(ticket: TransferTicket, state: str) -> None:
    url = settings.SITE_URL + reverse("admin:tickets_transferticket_change", args=[ticket.pk])
    label = "is overdue" if state == "overdue" else "is due soon"
    body = render_to_string("tickets/email_finance_deadline.txt", {"ticket": ticket, "url": url, "label": label})
    for address in finance_recipients():
        queue_email(
            dedupe_key=f"ticket:{ticket.public_id}:{state}:{address}",
            to=address,
            subject=f"{ticket.number} {label} ({format_money(ticket.amount)}, {ticket.account})",
            body=body,
        )
