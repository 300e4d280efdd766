"""Crediting a matched statement line, once, through the one money-in function.

The ledger source is the transfer's reference on our statement (models.transfer_source_ref),
the same one the ticket path uses once a clerk confirms that reference: a line and a ticket
for the same transfer credit once whichever comes first. Lock order: the line, then its
ticket, then (in the ledger) the account — the ticket path locks ticket then account.
Manual confirmation keeps the tickets' maker-checker threshold.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.descriptions import BANK_TRANSFER_BOOKED, Description, describe
from accounts.ledger import NewEntry, credit_deposits
from accounts.models import Account, LedgerEntry, User
from accounts.notifications import TemplatedEmail, queue_templated_emails
from accounts.selectors import acts_for
from billing_center.review_flags import stamp
from bills.settlement import credit_payment
from money.errors import Conflict, Invalid, Refused
from money.formatting import format_money

from .. import notes
from ..models import ReceivingAccount, StatementLine, TransferTicket, transfer_source_ref
from ..review import CREDIT_PERMISSION, close_matched_ticket
from .events import lines_matched
from .matching import earlier_credits
from .parsed import reference_key, reference_key_of
from .returns import note_returns_of
from .transfer_lines import link_others, lock_transfers, refuse_if_set_aside, with_a_line_set_aside

CREDITABLE = (StatementLine.State.MATCHED, StatementLine.State.UNMATCHED)
# What a line that waits to be given back says on it (notes are stored in English): statements.rebookings writes it.
WAITS_TO_BE_GIVEN_BACK = notes.NOT_GIVEN_BACK.split("%")[0]


@dataclass(frozen=True)
class LineOutcome:
    line: StatementLine
    credited: bool  # False: proposed, waiting for a second finance user
    already: bool = False  # this line was credited already: nothing changed
    linked: bool = False  # its transfer was credited already: linked to that credit, not credited again
    linked_to: TransferTicket | None = None  # the ticket that credited it, if a ticket did


def require_credit_permission(actor) -> None:
    """Crediting a line, assigning it or setting it aside: finance staff who may credit transfers."""
    if not (actor.is_active and actor.is_staff and actor.has_perm(CREDIT_PERMISSION)):
        raise Refused(_("Only finance staff who may credit transfers can do this."))


def is_exact(line: StatementLine, account: Account, *, actor) -> bool:
    """Credited without a person when STATEMENT_AUTO_CREDIT is on, on the word of `actor`, who imported the file:
    a line naming its account exactly, in its billing currency, that the importer could credit alone by
    confirming it (waits_for_a_second_user)."""
    return names_exactly(line, account) and waits_for_a_second_user(line, actor=actor) is None


def names_exactly(line: StatementLine, account: Account) -> bool:
    """An exact match (RF, invoice or bill number) in the account's billing currency. Never an enterprise member's:
    its funds come from its master, it takes no top-up, and finance decides (a transfer quoting its reference had
    been credited without a word; found by a helper)."""
    member = account.type == Account.Type.ENTERPRISE_MEMBER
    return line.rule in StatementLine.EXACT_RULES and line.currency == account.billing_currency and not member


def waits_for_a_second_user(line: StatementLine, *, actor, account_id: int | None = None) -> Description | None:
    """Why a line needs a finance user besides `actor` to be credited (to its account, or `account_id`), or None:
    actor may not credit transfers, the account is one actor acts for (accounts.selectors.acts_for), or the line is
    above the second-approval threshold. Confirming, the importer could not credit it alone; credited on import, a
    file they uploaded had credited their own account, or any amount, with no second person, even with no right to
    credit (found by helpers)."""
    why = may_not_credit(actor, account_id or line.account_id)
    if why is not None:
        return why
    if _needs_second_approval(line):
        return describe(notes.LARGE_NOT_AUTO_CREDITED, amount=line.money)
    return None


def may_not_credit(actor, account_id: int | None) -> Description | None:
    """Why `actor` may not credit the account by their word alone, or None: they may not credit transfers at all,
    or they act for it (accounts.selectors.acts_for)."""
    if not actor.has_perm(CREDIT_PERMISSION):
        return describe(notes.IMPORTER_MAY_NOT_CREDIT, user=actor)
    if acts_for(actor, account_id):
        return describe(notes.OWN_NOT_AUTO_CREDITED, user=actor)
    return None


def confirm_line(*, line_id: int, actor, seen_account: str | None = None, now: datetime | None = None) -> LineOutcome:
    """Finance confirms a matched line (or one assigned by hand): credit it, or above the
    threshold propose it for a second finance user, as with tickets. `seen_account` is the account id the
    clerk's page showed ("" for none): a line assigned to another account since is refused, not credited unseen."""
    now = now or timezone.now()
    require_credit_permission(actor)
    with transaction.atomic():
        line = _lock_line(line_id)
        if line.state == StatementLine.State.CREDITED:
            return LineOutcome(line, credited=True, already=True)
        if line.state == StatementLine.State.SET_ASIDE:
            raise Conflict(_("This line is set aside, not credited; put it back first to credit it."))
        if line.state not in CREDITABLE:
            raise Conflict(
                _("This line's state is “%(state)s”: it cannot be credited.") % {"state": line.get_state_display()}
            )
        if seen_account is not None and seen_account != str(line.account_id or ""):
            raise Conflict(_("This line was assigned to another account since your page showed it: open it again."))
        if line.account_id is None:
            raise Invalid(_("Assign this line to an account first."), code="line_unassigned")
        if acts_for(actor, line.account_id):
            raise Refused(_("This transfer is for your own account; another finance user must confirm it."))
        refuse_other_currency(line, Account.objects.get(pk=line.account_id))  # before a proposal, too
        if _needs_second_approval(line):
            if line.proposed_by_id is None:
                line.proposed_by = actor
                line.save(update_fields=["proposed_by"])
                return LineOutcome(line, credited=False)
            if line.proposed_by_id == actor.pk:
                raise Refused(_("You proposed this credit; a second finance user must confirm it."))
        if not waits_to_be_given_back(line):
            outcome = credit_locked_line(line, actor=actor, now=now)
            note_returns_of([line.pk], now=now)  # a return stored while it waited is noted, its account flagged
            return outcome
    return _give_back(line, actor=actor, now=now)


def waits_to_be_given_back(line: StatementLine) -> bool:
    """A line that books again a transfer whose credit finance took back, left for a finance user who may give it
    back (statements.rebookings said so on it): confirming it gives that credit back, never credits anew (its
    transfer's source holds the first credit)."""
    return WAITS_TO_BE_GIVEN_BACK in line.explanation


def _give_back(line: StatementLine, *, actor, now: datetime) -> LineOutcome:
    """Confirmed, after confirm_line's checks under the line's lock: given back by statements.rebookings, which takes
    the return's lock and then the line's, as take_back_return does (the line's first had risked a deadlock)."""
    from .rebookings import note_booked_again  # it imports this module: who may give back is decided here

    receiving = line.receiving_account_id
    changed = note_booked_again([line.pk], receiving_account_id=receiving, actor=actor, now=now, confirmed=True)
    line = StatementLine.objects.get(pk=line.pk)
    if line.state != StatementLine.State.CREDITED:  # finance assigned it to another account by hand since
        raise Conflict(
            _(
                "This line books again a transfer whose credit was taken back from another account than the one it "
                "is assigned to: assign it back to give that credit back."
            )
        )
    return LineOutcome(line, credited=True, already=not changed)  # money in again: said and logged as a credit


def assign_line(*, line_id: int, account_id: int, actor, now: datetime | None = None) -> StatementLine:
    """Finance names the account of an unmatched line; it then waits for confirmation."""
    now = now or timezone.now()
    require_credit_permission(actor)
    with transaction.atomic():
        line = _lock_line(line_id)
        if line.state not in CREDITABLE:
            raise Conflict(
                _("This line's state is “%(state)s”: it cannot be assigned.") % {"state": line.get_state_display()}
            )
        account = Account.objects.filter(pk=account_id).first()
        if account is None:
            raise Invalid(_("There is no account #%(id)s.") % {"id": account_id}, code="no_account")
        line.account, line.bill, line.rule, line.proposed_by = account, None, StatementLine.Rule.MANUAL, None
        if line.ticket_id and line.ticket.account_id != account.pk:
            line.ticket = None  # that ticket is another account's transfer
        line.state = StatementLine.State.MATCHED
        label = notes.account_label(account.pk, account.name)
        notes.explain(line, describe(notes.ASSIGNED, account=label, user=actor, when=stamp(now)))
        line.save()
        lines_matched([line], now=now)
        return line


def refuse_other_currency(line: StatementLine, account: Account) -> None:
    """A line in another currency than the account's is credited through the customer's ticket, never as
    it is: a ticket converts at a rate locked when finance confirms it (tickets.review)."""
    if line.currency != account.billing_currency:
        raise Invalid(
            _(
                "%(account)s is billed in %(billing)s, this line is in %(currency)s: "
                "credit it through the customer's Transfer Ticket, which converts at a locked rate."
            )
            % {"account": account.name, "billing": account.billing_currency, "currency": line.currency},
            code="currency_mismatch",
        )


def credit_locked_line(line: StatementLine, *, actor, now: datetime, by_itself: bool = False) -> LineOutcome:
    """Credit the locked, matched line once and close its ticket. A transfer a ticket already
    credited is linked to that credit, never credited again (the outcome names that ticket). Credited `by_itself`
    (no person confirming), an account that is no longer one a line is credited to by itself (is_exact: an
    enterprise member) is refused, read under its lock after the transfer's and the ticket's, as finance's
    confirmation takes them (read before the transfer's, the import had deadlocked with it; found by a helper)."""
    account = Account.objects.get(pk=line.account_id)
    lock_transfers([line])
    refuse_if_set_aside(line)
    ticket = TransferTicket.objects.select_for_update().get(pk=line.ticket_id) if line.ticket_id else None
    if by_itself and not is_exact(line, Account.objects.select_for_update().get(pk=line.account_id), actor=actor):
        raise Refused(_("Not credited by itself: the account is an enterprise member now; finance decides."))
    if ticket and ticket.status == TransferTicket.Status.CREDITED and ticket.ledger_entry_id:
        if ticket.received_amount != line.money:  # a slip in the confirmed amount, or another transfer
            raise Conflict(
                _(
                    "%(number)s was credited for %(received)s received; this line shows %(shown)s. "
                    "Check the ticket's confirmed amount: this line is not linked to it."
                )
                % {
                    "number": ticket.number,
                    "received": format_money(ticket.received_amount),
                    "shown": format_money(line.money),
                }
            )
        entry, linked = ticket.ledger_entry, True  # the clerk confirmed it under another reference
    elif earlier_entry := _earlier_entry(line):
        entry, linked = earlier_entry, True  # under a source written before sources named the receiving account
    else:  # a new credit: in the account's currency only (a ticket's converted credit is linked above)
        refuse_other_currency(line, account)
        deposit = credit_payment(
            kind=LedgerEntry.Kind.BANK_TRANSFER,
            account_id=account.pk,
            amount=line.money,
            source_ref=transfer_source_ref(line.receiving_account_id, line.bank_reference),
            actor=actor,
            description=_description(line),
            bill_ids=[line.bill_id] if line.bill_id else [],
            now=now,
        )
        entry, linked = deposit.entry, deposit.already_credited  # already: a line of an earlier statement
    earlier = TransferTicket.objects.filter(ledger_entry=entry).first()
    _mark_credited(line, entry, actor, now, earlier=earlier, linked=linked)
    line.save()
    link_others([line], actor=actor, now=now)
    if not earlier and ticket and ticket.is_open:
        close_matched_ticket(ticket, entry=entry, actor=actor, now=now)
    elif not linked:  # the customer was told when the money was credited, once
        _queue_emails([line], {account.pk: account})
    return LineOutcome(line, credited=True, linked=linked or earlier is not None, linked_to=earlier)


def _earlier_entry(line: StatementLine) -> LedgerEntry | None:
    """The credit the line's transfer has under another source than the one crediting it would write (see
    matching.earlier_credits); Conflict if that credit is another account's."""
    earlier = earlier_credits([line]).get(line.pk)
    source = transfer_source_ref(line.receiving_account_id, line.bank_reference)
    if earlier is None or earlier.entry.source_ref == source:
        return None  # none, or the one crediting answers with (a line of an earlier statement)
    if earlier.entry.account_id != line.account_id:
        raise Conflict(
            _("This transfer was credited already, to account #%(account)s on %(when)s.")
            % {"account": earlier.entry.account_id, "when": stamp(earlier.entry.created_at)}
        )
    return earlier.entry


def credit_exact_lines(lines: list[StatementLine], *, actor, now: datetime) -> list[StatementLine]:
    """Credit the exact matches among many locked, matched lines as one posting
    (credit_deposits) and mark them credited; the caller saves them. Returns the exact matches
    to credit one by one (credit_locked_line) instead: a postpaid account's repayment, a ticket
    to close — or all of them, when a transfer among them turns out to be credited already."""
    # What the crediting and the mails read of each account (a statement's chunks read thousands).
    wanted = Account.objects.only("name", "type", "balance", "balance_currency")
    accounts = wanted.in_bulk({line.account_id for line in lines}) if lines else {}
    exact = []
    for line in (line for line in lines if names_exactly(line, accounts[line.account_id])):
        why = waits_for_a_second_user(line, actor=actor)
        if why is None:
            exact.append(line)
        else:
            notes.explain(line, why)  # it waits for finance: said why
    lock_transfers(exact)
    aside = with_a_line_set_aside(exact)  # one by one: credit_locked_line says why it is not credited
    # Read again under the transfers' locks: a ticket naming a retired account, credited since the lines were
    # matched, may be one of these transfers (its source names its own account); those go one by one and link.
    aside |= _credited_by_retired_tickets(exact)
    together, one_by_one = [], []
    for line in exact:
        plain = not line.ticket_id and not line.bill_id and not accounts[line.account_id].is_postpaid
        (together if plain and line.pk not in aside else one_by_one).append(line)
    if not together:
        return one_by_one
    deposits = [
        NewEntry(
            line.account_id,
            line.money,
            LedgerEntry.Kind.BANK_TRANSFER,
            transfer_source_ref(line.receiving_account_id, line.bank_reference),
            actor,
            _description(line),
        )
        for line in together
    ]
    try:
        entries = credit_deposits(deposits, now=now)
    except Conflict:
        return exact
    for line, entry in zip(together, entries, strict=True):
        _mark_credited(line, entry, actor, now)
    link_others(together, actor=actor, now=now)
    _queue_emails(together, accounts)
    return one_by_one


def _credited_by_retired_tickets(lines: list[StatementLine]) -> set[int]:
    """The ids of the lines whose reference and amount a credited ticket naming a retired account quotes."""
    retired = list(ReceivingAccount.objects.filter(retired_at__isnull=False).values_list("pk", flat=True))
    if not lines or not retired:
        return set()
    keys = {reference_key(line.bank_reference) for line in lines}
    quoted = (
        TransferTicket.objects.alias(
            typed=reference_key_of("bank_reference"), confirmed=reference_key_of("confirmed_bank_reference")
        )
        .filter(Q(typed__in=keys) | Q(confirmed__in=keys), status=TransferTicket.Status.CREDITED)
        .filter(receiving_account_id__in=retired)
        .values_list("bank_reference", "confirmed_bank_reference", "received_amount")
    )
    found = {(reference_key(ref), amount) for typed, confirmed, amount in quoted for ref in (typed, confirmed)}
    return {line.pk for line in lines if (reference_key(line.bank_reference), line.amount) in found}


def _description(line: StatementLine) -> Description:
    return describe(BANK_TRANSFER_BOOKED, reference=line.bank_reference, booked=line.booking_date)


def _mark_credited(
    line: StatementLine, entry: LedgerEntry, actor, now: datetime, *, earlier=None, linked: bool = False
) -> None:
    line.ledger_entry, line.state, line.credited_by, line.credited_at = entry, StatementLine.State.CREDITED, actor, now
    if earlier:
        line.ticket = earlier
        notes.explain(line, describe(notes.ALREADY_CREDITED, number=earlier.number))
    elif linked:
        notes.explain(line, describe(notes.ALREADY_CREDITED_ON, when=stamp(entry.created_at)))
    else:
        notes.explain(line, describe(notes.CREDITED_ON, amount=line.money, when=stamp(now)))


def _queue_emails(lines: list[StatementLine], accounts: dict[int, Account]) -> None:
    """No ticket to answer: each credited line's account users are told the money arrived
    (through the outbox, in this transaction), each in their language: one batch per language.
    Each value is worked out once (a statement credits thousands of lines), so the template only
    places plain text; the users are read as the few values the mail needs."""
    by_language: dict[str, dict[int, list]] = {}  # language → account → (user id, address, name)
    users = User.objects.filter(account_id__in={line.account_id for line in lines}, is_active=True).exclude(email="")
    for pk, account_id, email, language, browser, first, last, username in users.values_list(
        "pk", "account_id", "email", "language", "browser_language", "first_name", "last_name", "username"
    ):
        name = f"{first} {last}".strip() or username  # User.get_full_name, or the username
        # accounts.notifications.language_of: their own language, else their browser's at their last sign-in
        by_language.setdefault(language or browser, {}).setdefault(account_id, []).append((pk, email, name))
    url = settings.SITE_URL + reverse("accounts:overview")
    for language, recipients in by_language.items():
        with translation.override(language or settings.LANGUAGE_CODE):
            subject = _("Your bank transfer of %(amount)s was credited")
            emails = []
            for line in lines:
                if line.account_id not in recipients:
                    continue  # its account's users read another language, or have no address
                amount, account = format_money(line.money), accounts[line.account_id]
                context = {"date": f"{line.booking_date:%Y-%m-%d}", "amount": amount, "account": account.name}
                emails += [
                    TemplatedEmail(
                        dedupe_key=f"statement-line:{line.pk}:credited:{pk}",
                        to=email,
                        subject=subject % {"amount": amount},
                        template="tickets/email_statement_credited.txt",
                        context={**context, "url": url, "name": name},
                        account=account,
                    )
                    for pk, email, name in recipients[line.account_id]
                ]
            queue_templated_emails(emails)


def _lock_line(line_id: int) -> StatementLine:
    return StatementLine.objects.select_for_update().get(pk=line_id)


def _needs_second_approval(line: StatementLine) -> bool:
    limit = settings.TICKET_SECOND_APPROVAL_ABOVE.get(line.currency)
    return limit is None or line.amount > limit
