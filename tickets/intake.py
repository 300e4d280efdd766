"""A customer's Transfer Ticket: the transfer details and bank certificates, under the
signed-in user's account, with its three-working-day due time computed once, here."""

import logging
from dataclasses import dataclass
from datetime import date, datetime

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from accounts.models import Account
from bills.models import Bill
from money.errors import Invalid

from .certificates import MAX_CERTIFICATES_PER_TICKET, CheckedCertificate
from .events import status_changed
from .exceptions import CertificateStorageUnavailable, TicketAlreadySubmitted, TicketNotAllowed, TicketStateError
from .models import Certificate, Invoice, ReceivingAccount, StatementLine, TicketEvent, TransferTicket
from .review import close_matched_ticket
from .statements.parsed import reference_key, reference_key_of
from .working_days import due_at

logger = logging.getLogger(__name__)
MAX_CERTIFICATES_PER_TICKET_TOTAL = 10


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
    bill: Bill | None = None
    payment_reference: str = ""
    problem_description: str = ""


def can_file_ticket(account: Account) -> bool:
    """Prepaid accounts top up by bank transfer; postpaid accounts repay their bills by it."""
    return account.can_top_up or account.is_postpaid


def submit_ticket(
    *,
    account_id: int,
    user,
    details: TicketDetails,
    certificates: list[CheckedCertificate],
    request_key: str = "",
    now: datetime | None = None,
) -> TransferTicket:
    """Record a transfer ticket under the signed-in user's account, with its certificates.

    The due time is computed here, once. Files are stored before their rows; if anything
    fails the stored files are removed again, so no row ever points at a missing file and
    no file is left without its ticket. `request_key` is the page's one-time key: the page
    sent again, or twice at once, raises TicketAlreadySubmitted with the ticket it made
    (20 at once had made 20 tickets, each for finance to reject).
    """
    now = now or timezone.now()
    account = Account.objects.get(pk=account_id)
    _refuse_a_page_sent_before(account, request_key)
    if not 1 <= len(certificates) <= MAX_CERTIFICATES_PER_TICKET:
        raise Invalid(
            _("Attach between one and %(count)s certificates.") % {"count": MAX_CERTIFICATES_PER_TICKET},
            code="certificate_count",
        )
    if details.invoice is not None and details.invoice.account_id != account.pk:
        raise Invalid(_("That invoice number is not one of your invoices."), code="invoice_not_found")
    if details.bill is not None and details.bill.account_id != account.pk:
        raise Invalid(_("That bill number is not one of your bills."), code="bill_not_found")
    stored: list[Certificate] = []
    try:
        with transaction.atomic():
            ticket = TransferTicket(
                account=account,
                submitted_by=user,
                submitted_at=now,
                due_at=due_at(now),
                request_key=request_key,
                **details.__dict__,
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
            status_changed(ticket, TicketEvent.Kind.SUBMITTED, now)
            stored = _store_certificates(ticket, event, user, certificates, now)
            _flag_duplicates(ticket)
            _link_credited_statement_line(ticket, user, now)
            # Last, under the account's row lock, which a change of its type takes too: a ticket filed while the account
            # turned an enterprise member had been left open on it, and credited (found by a helper). Last, as every
            # path takes a source's rows before its account's: taken first, it had deadlocked with finance rejecting
            # the ticket this one duplicates (found by a helper). FOR NO KEY UPDATE: nothing here changes the row.
            locked = Account.objects.select_for_update(no_key=True).get(pk=account_id)
            if not can_file_ticket(locked):
                raise TicketNotAllowed(locked.topup_refusal)
    except IntegrityError:
        _delete_files(stored)
        _refuse_a_page_sent_before(account, request_key)  # sent twice at once: the other one made it
        raise
    except Exception:
        _delete_files(stored)
        raise
    return ticket


def _refuse_a_page_sent_before(account: Account, request_key: str) -> None:
    earlier = TransferTicket.objects.filter(account=account, request_key=request_key).first() if request_key else None
    if earlier is not None:
        raise TicketAlreadySubmitted(earlier)


def _link_credited_statement_line(ticket: TransferTicket, user, now: datetime) -> None:
    """A ticket for a transfer our bank statement already credited is linked to that credit and
    closed, never credited again; the reference compared however spelled (its letters and digits), and the
    amount the customer says they sent: a new transfer given an older one's reference by mistake had been
    closed as that older credit. A ticket whose amount differs waits for finance, as any other; so does one
    whose transfer another of our accounts listed, unless the ticket names a retired account (the same rule
    as tickets.selectors.statement_lines_for_transfer)."""
    key = reference_key(ticket.bank_reference)
    here = {} if ticket.names_retired_account else {"receiving_account_id": ticket.receiving_account_id}
    line = (
        StatementLine.objects.alias(key=reference_key_of("bank_reference"))
        .filter(
            **here,
            account_id=ticket.account_id,
            state=StatementLine.State.CREDITED,
            key=key,
            amount=ticket.amount.amount,
            currency=str(ticket.amount.currency),
            ledger_entry__transfer_ticket__isnull=True,
        )
        .select_related("ledger_entry")
        .first()
    )
    confirmed = TransferTicket.objects.alias(key=reference_key_of("confirmed_bank_reference")).filter(key=key, **here)
    if line and not confirmed.exists():
        close_matched_ticket(ticket, entry=line.ledger_entry, actor=None, now=now)


def reply_to_ticket(
    *, ticket_id: int, user, body: str, certificates: list[CheckedCertificate], now: datetime | None = None
) -> TicketEvent:
    """The customer answers finance (or adds a certificate); an open ticket goes back to review."""
    now = now or timezone.now()
    body = body.strip()
    if not body and not certificates:
        raise Invalid(_("Write a message or attach a certificate."), code="empty_reply")
    stored: list[Certificate] = []
    try:
        with transaction.atomic():
            ticket = TransferTicket.objects.select_for_update().get(pk=ticket_id)
            if not ticket.is_open:
                raise TicketStateError(
                    _("This ticket is %(status)s; open a new ticket for another transfer.")
                    % {"status": ticket.get_status_display().lower()}
                )
            if ticket.certificates.count() + len(certificates) > MAX_CERTIFICATES_PER_TICKET_TOTAL:
                raise Invalid(
                    _("A ticket holds at most %(count)s certificates.") % {"count": MAX_CERTIFICATES_PER_TICKET_TOTAL},
                    code="certificate_count",
                )
            event = TicketEvent.objects.create(
                ticket=ticket, kind=TicketEvent.Kind.CUSTOMER_REPLY, actor=user, body=body, created_at=now
            )
            stored = _store_certificates(ticket, event, user, certificates, now)
            if ticket.status == TransferTicket.Status.INFO_REQUESTED:
                ticket.status = TransferTicket.Status.UNDER_REVIEW
                ticket.save(update_fields=["status", "updated_at"])
                status_changed(ticket, TicketEvent.Kind.UNDER_REVIEW, now)
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
        try:
            certificate.file.save(f"certificate{checked.extension}", ContentFile(checked.content), save=False)
        except OSError as exc:
            logger.exception("Certificate storage failed for ticket %s", ticket.pk)
            raise CertificateStorageUnavailable(
                _("We could not store your certificate, so nothing was submitted. Please try again in a few minutes.")
            ) from exc
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
