"""Taking back the credit of a transfer the bank returned: finance's answer to a debit of our statement that takes
back a transfer we credited (tickets.statements.returns flags the account). The returned part is debited from the
account the transfer credited, once per debit, through the ledger's one way money goes back out; a repayment's
return makes its bills unpaid again, as a chargeback does. A transfer the bank books again after its return keeps
its credit: taking it back is refused, and a credit taken back before the bank booked it again is given back
(give_back, called by statements.rebookings). The account had stayed flagged "reverse the credit" with nothing in
the product to do it. All that debits take back of one credit stays within it."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DecimalField, Q
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from accounts.descriptions import TRANSFER_GIVEN_BACK, TRANSFER_TAKEN_BACK, describe
from accounts.ledger import credit_deposit, reverse_deposit
from accounts.models import Account, LedgerEntry, User
from accounts.notifications import queue_templated_email, recipient_language
from billing_center.review_flags import stamp
from bills.models import REPAYMENT_RETURN
from bills.settlement import reopen_settled, repays_bills, settle_bills
from money.errors import Conflict, Invalid
from money.formatting import format_money
from money.rates import round_to_minor

from .. import notes
from ..models import StatementLine
from .crediting import WAITS_TO_BE_GIVEN_BACK, require_credit_permission
from .parsed import reference_key, reference_key_of
from .returns import returned_credit

# What takes a credit back (a debit's) and gives it back (the bank booked the transfer again).
RETURN_KINDS = (LedgerEntry.Kind.BANK_RETURN, LedgerEntry.Kind.BANK_TRANSFER, LedgerEntry.Kind.REPAYMENT)


@dataclass(frozen=True)
class TakenBack:
    line: StatementLine  # the debit
    entry: LedgerEntry  # the account's debit for it
    already: bool = False  # taken back before: nothing changed


def take_back_return(*, line_id: int, actor, now: datetime | None = None) -> TakenBack:
    """Debit the account a returned transfer credited with what the bank took back (at most the credit)."""
    require_credit_permission(actor)
    now = now or timezone.now()
    with transaction.atomic():
        debit = StatementLine.objects.select_for_update().get(pk=line_id)
        credit = returned_credit(debit)
        if credit is None or credit.ledger_entry_id is None:
            raise Invalid(_("This line does not take back a transfer we credited: there is nothing to take back."))
        credit = StatementLine.objects.select_for_update().get(pk=credit.pk)  # other debits of it wait here
        if debit.returned_line_id is None:  # noted before the line was kept: kept now, as named
            debit.returned_line = credit
            debit.save(update_fields=["returned_line"])
        credited = credit.ledger_entry
        # The account's row before what was taken back of its credit is read: two debits naming two lines of one
        # credit (a transfer listed twice) had each found nothing taken and taken it all (found by a helper).
        account = Account.objects.select_for_update().get(pk=credited.account_id)
        # A repayment's return reopens bills only while the account is postpaid: turned prepaid since, nothing
        # would settle them again, and its balance says what it owes (found by a helper).
        repayment = credited.kind == LedgerEntry.Kind.REPAYMENT and account.is_postpaid
        source = taken_back_source(debit.pk, repayment=repayment)
        done = taken_back_by(debit)  # under either source: the account may have changed type since
        if done is not None:
            return TakenBack(debit, done, already=True)
        if booked_again(debit, credit):
            raise Conflict(
                _("The bank booked the transfer %(reference)s again after this debit: its credit stands.")
                % {"reference": credit.bank_reference}
            )
        part = _to_take(debit, credit, credited)
        if part <= 0 and _rebooking_waits(credit):
            # Refused as taken back in full, finance had had no reason to come back once the rebooking was confirmed
            # and the credit given back: the customer kept what the bank took back again (found by a helper).
            raise Conflict(
                _(
                    "The bank booked %(reference)s again after an earlier return, and that line waits to be confirmed, "
                    "which gives its credit back: confirm it first, then take this return back."
                )
                % {"reference": credit.bank_reference}
            )
        if part <= 0:
            raise Conflict(
                _("The credit of %(reference)s was taken back in full already, for another debit.")
                % {"reference": credit.bank_reference}
            )
        taken = reverse_deposit(
            account_id=credited.account_id,
            amount=Money(part, credited.amount.currency),
            kind=LedgerEntry.Kind.BANK_RETURN,
            source_ref=source,
            actor=actor,
            description=describe(TRANSFER_TAKEN_BACK, reference=credit.bank_reference, debit=debit.bank_reference),
            now=now,
        )
        if taken.already_credited:  # not under these locks (SQLite has none): the source's uniqueness answered
            return TakenBack(debit, taken.entry, already=True)
        if repayment:  # what it settled is unpaid again
            note = describe(TRANSFER_TAKEN_BACK, reference=credit.bank_reference, debit=debit.bank_reference)
            reopen_settled(account_id=credited.account_id, source_ref=taken.entry.source_ref, note=note, now=now)
        label = notes.account_label(account.pk, account.name)
        amount = -taken.entry.amount
        notes.explain(
            debit, describe(notes.CREDIT_TAKEN_BACK, user=actor, amount=amount, account=label, when=stamp(now))
        )
        debit.save(update_fields=["explanation", "explanation_parts"])
        _email_customers(account, debit, credit, taken.entry)
        return TakenBack(debit, taken.entry)


def _rebooking_waits(credit: StatementLine) -> bool:
    """Whether a line booking this transfer again, after an earlier return, waits for a finance user to give its
    credit back (statements.rebookings; crediting.waits_to_be_given_back)."""
    lines = StatementLine.objects.alias(key=reference_key_of("bank_reference")).filter(
        receiving_account_id=credit.receiving_account_id, key=reference_key(credit.bank_reference), amount__gt=0
    )
    waiting = lines.exclude(pk=credit.pk).exclude(state=StatementLine.State.CREDITED)  # credited: given back since
    return waiting.filter(explanation__contains=WAITS_TO_BE_GIVEN_BACK).exists()


def _email_customers(account: Account, debit: StatementLine, credit: StatementLine, taken: LedgerEntry) -> None:
    """The account's users are told, each in their language, once per debit: they had been told the transfer was
    credited, and then read only a debit on their statement (found by a helper)."""
    users = User.objects.filter(account=account, is_active=True).exclude(email="")
    for user in users:
        with recipient_language(user):
            names = {"reference": credit.bank_reference, "amount": format_money(-taken.amount)}
            queue_templated_email(
                dedupe_key=f"statement-line:{debit.pk}:taken-back:{user.pk}",
                to=user.email,
                subject=_("Your bank returned the transfer %(reference)s: %(amount)s taken from your balance") % names,
                template="tickets/email_transfer_taken_back.txt",
                context={
                    **names,
                    "name": user.get_full_name() or user.username,
                    "date": f"{debit.booking_date:%Y-%m-%d}",
                    "account": account.name,
                    "balance": format_money(taken.balance_after),
                    "url": settings.SITE_URL + reverse("accounts:statement"),
                },
                account=account,
            )


def to_take_back(debit: StatementLine) -> tuple[LedgerEntry, Money] | None:
    """What taking back the credit a debit names would take now, and that credit: shown on the confirmation page
    (finance had confirmed without seeing the amount; found by a helper). None if there is nothing to take."""
    credit = returned_credit(debit)
    if credit is None or credit.ledger_entry_id is None or taken_back_by(debit) or booked_again(debit, credit):
        return None
    credited = LedgerEntry.objects.select_related("account").get(pk=credit.ledger_entry_id)
    part = _to_take(debit, credit, credited)
    return (credited, Money(part, credited.amount.currency)) if part > 0 else None


def _to_take(debit: StatementLine, credit: StatementLine, credited: LedgerEntry) -> Decimal:
    """The debit's part of the credit, within what is left of it after the other debits naming it; all that is left
    when with theirs it returns the whole transfer (a converted credit's parts, each rounded, had left a cent;
    found by a helper)."""
    left = credited.amount.amount - net_taken_back([credited.pk]).get(credited.pk, Decimal(0))
    if _returns_the_rest(debit, credit):
        return left
    return min(_returned_part(debit, credit, credited.amount).amount, left)


def _returns_the_rest(debit: StatementLine, credit: StatementLine) -> bool:
    """Whether the debit and the others naming the credit whose take-back stands (not given back) return all of it."""
    returned = -debit.amount
    for other in StatementLine.objects.filter(returned_line=credit, amount__lt=0).exclude(pk=debit.pk):
        taken = taken_back_by(other)
        if taken is not None and given_back(taken) is None:
            returned += -other.amount
    return returned >= credit.amount


def _returned_part(debit: StatementLine, credit: StatementLine, credited: Money) -> Money:
    """What the debit took back of the credit, in the currency it was credited in (a ticket may have credited the
    transfer converted): all of it, or the debit's share of the transfer, to the cent."""
    returned = min(-debit.amount, credit.amount)
    if returned == credit.amount:
        return credited
    share = round_to_minor(credited.amount * returned / credit.amount, str(credited.currency), ROUND_HALF_UP)
    return Money(share, credited.currency)


def booked_again(debit: StatementLine, credit: StatementLine) -> bool:
    """Whether a statement lists again what the debit took back of `credit` after the debit, not set aside: that
    credit stands (statements.rebookings pairs such a line with the debit)."""
    return rebookings_of(debit, credit).exclude(state=StatementLine.State.SET_ASIDE).exists()


def rebookings_of(debit: StatementLine, credit: StatementLine):
    """The lines that book again what `debit` took back of `credit`: the transfer's own reference (whatever the
    return was listed under), the debit's amount, listed after the debit. Not the payer's id: a payer may use it for
    every payment, and a new payment of that amount is credited as one (it would have been given back as well)."""
    after = Q(booking_date__gt=debit.booking_date) | Q(booking_date=debit.booking_date, pk__gt=debit.pk)
    return (
        StatementLine.objects.alias(key=reference_key_of("bank_reference"))
        .filter(after, key=reference_key(credit.bank_reference), amount=-debit.amount, currency=debit.currency)
        .filter(receiving_account_id=debit.receiving_account_id)
        .exclude(pk=credit.pk)
    )


def taken_back_source(debit_id: int, *, repayment: bool) -> str:
    """The ledger source of what a debit (its line's id) took back: once per debit; a repayment's counts against
    the account's credit for its bills (bills.settlement.REPAID)."""
    return f"{REPAYMENT_RETURN if repayment else 'bank-return:'}{debit_id}"


def taken_back_by(debit: StatementLine) -> LedgerEntry | None:
    sources = [taken_back_source(debit.pk, repayment=repayment) for repayment in (False, True)]
    return LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BANK_RETURN, source_ref__in=sources).first()


def given_back(taken: LedgerEntry) -> LedgerEntry | None:
    """The credit that gave back what a take-back took (the bank booked the transfer again), if any."""
    return LedgerEntry.objects.filter(source_ref=f"{taken.source_ref}:booked-again").first()


def give_back(debit: StatementLine, *, now: datetime) -> LedgerEntry | None:
    """The bank books again what a debit took back, and finance had taken the credit back: it is credited again,
    once. It mirrors its take-back: the bills count it, and it settles them again, when they counted the take-back
    and the account is still postpaid (a credit taken back uncounted and given back counted had paid bills with money
    the balance still owed; found by a helper). Given back before, that entry answers, whatever the account is now.
    None if nothing was taken back for this debit. The caller holds the debit's lock, as take_back_return does."""
    taken = taken_back_by(debit)
    if taken is None:
        return None
    given = given_back(taken)
    if given is not None:  # its kind followed the account then; asked again, it is that credit (not a Conflict)
        return given
    source = f"{taken.source_ref}:booked-again"
    repayment = taken.source_ref.startswith(REPAYMENT_RETURN) and repays_bills(taken.account_id)
    description = describe(TRANSFER_GIVEN_BACK, reference=debit.bank_reference)
    deposit = credit_deposit(
        account_id=taken.account_id,
        amount=-taken.amount,
        kind=LedgerEntry.Kind.REPAYMENT if repayment else LedgerEntry.Kind.BANK_TRANSFER,
        source_ref=source,
        description=description,
        now=now,
    )
    if repayment and not deposit.already_credited:
        settle_bills(account_id=taken.account_id, source_ref=source, note=description, now=now)
    return deposit.entry


def net_taken_back_of(model, column: str) -> RawSQL:
    """net_taken_back as a column of a query over `model` whose rows name a credit (`column`: their ledger entry's
    id column, e.g. "ledger_entry_id"): a negative amount, or 0. The customer's records say a credit was returned by
    the bank from it (they had said "Credited" after it was taken back; found by a helper).

    One SQL expression, written once per column: built as nested ORM subqueries, resolving it again for each of
    the Top-up records page's queries had cost more than the page's other work (bench/README.md)."""
    return RawSQL(_net_sql(model._meta.db_table, model._meta.get_field(column).column), _net_params(), _AMOUNT)


_AMOUNT = DecimalField(max_digits=18, decimal_places=2)
_SUFFIXES = ("", ":booked-again")  # what a debit took back, and what the bank's booking again gave back


@cache
def _net_sql(table: str, column: str) -> str:
    """The sum of the ledger's moves for the debits that returned the outer row's credit (their sources name each
    debit's line: taken_back_source, with or without ":booked-again"), or 0."""
    quote = connection.ops.quote_name
    lines, entries = quote(StatementLine._meta.db_table), quote(LedgerEntry._meta.db_table)
    returned = quote(StatementLine._meta.get_field("returned_line").column)
    credit = quote(StatementLine._meta.get_field("ledger_entry").column)
    source = (
        f"SELECT %s || CAST(d.id AS TEXT) || %s FROM {lines} d JOIN {lines} c ON d.{returned} = c.id "
        f"WHERE c.{credit} = {quote(table)}.{quote(column)}"
    )
    sources = " UNION ALL ".join([source] * (2 * len(_SUFFIXES)))
    kinds = ", ".join(["%s"] * len(RETURN_KINDS))
    moves = f"SELECT SUM(e.amount) FROM {entries} e WHERE e.kind IN ({kinds}) AND e.source_ref IN ({sources})"
    return f"COALESCE(({moves}), 0)"


def _net_params() -> list[str]:
    pairs = [
        (taken_back_source("", repayment=repayment), suffix) for repayment in (False, True) for suffix in _SUFFIXES
    ]
    return [*(str(kind) for kind in RETURN_KINDS), *(part for pair in pairs for part in pair)]


def net_taken_back(entry_ids) -> dict[int, Decimal]:
    """What finance took back of each credit (its ledger entry) after the bank returned it, less what was given back
    when the bank booked it again, in the credit's currency (net_taken_back_of, read for these entries)."""
    credits = LedgerEntry.objects.filter(pk__in=list(entry_ids)).annotate(net=net_taken_back_of(LedgerEntry, "id"))
    return {pk: -net for pk, net in credits.values_list("pk", "net") if net}
