"""The texts our code writes on tickets and statement lines, read by finance and customers in
their own language: a ticket's thread lines (a proposed credit, a credit) and a statement line's
explanation and suggestions (why it matched, or did not).

Each is stored as its English text (admin's search, the audit trail, older readers) with its
parts beside it, as ledger descriptions are (accounts.descriptions): `TicketEvent.body_parts`
for a thread line, `StatementLine.explanation_parts` and `suggestion_parts` for a line's notes,
one part per note. A page shows `shown(text, parts)`: the parts in the active language, or the
stored text of an older row, which has none (it had been English for every reader). A row
written before the parts existed keeps adding plain text, so none of its lines is lost.
"""

from django.utils.translation import gettext_noop

from accounts.descriptions import Description, describe, entry_description, known_messages, parts_of

# A ticket's thread.
PROPOSED = gettext_noop("Received %(received)s, credit %(credit)s.")
PROPOSED_CONVERTED = gettext_noop("Received %(received)s, credit %(credit)s at %(rate)s.")
CREDITED = gettext_noop("%(amount)s credited.")
CREDITED_CONVERTED = gettext_noop("%(amount)s credited (received %(received)s at %(rate)s).")
MATCHED_ON = gettext_noop("Received on %(date)s, matched with our bank statement.")
SENT_BACK = gettext_noop("%(proposal)s Why: %(why)s")  # the proposal's figures, then the clerk's words as written

# A statement line: why it matched, or why not.
DEBIT = gettext_noop("A debit: listed, never credited.")
OTHER_CURRENCY = gettext_noop("In %(currency)s, not the account's %(account_currency)s: listed, never credited.")
SEVERAL_ACCOUNTS = gettext_noop("Names more than one account:")
RF_NAMES = gettext_noop("RF reference %(reference)s names %(account)s.")
RF_WRONG_DIGITS = gettext_noop("%(reference)s has wrong check digits: not used.")
RF_NO_ACCOUNT = gettext_noop("RF reference %(reference)s names no account of ours.")
INVOICE_OF = gettext_noop("Invoice %(number)s is %(account)s's.")
BILL_OF = gettext_noop("Bill %(number)s is %(account)s's.")
TICKET_OF_ACCOUNT = gettext_noop("Ticket %(number)s of the same account is for this transfer.")
TICKET_SAME_REFERENCE = gettext_noop("Ticket %(number)s names this transfer (same bank reference).")
TICKET_SAME_PAYMENT = gettext_noop("Ticket %(number)s names this transfer (same amount, date and payer).")
SEVERAL_TICKETS = gettext_noop("Several open tickets could be this transfer: %(numbers)s")
NOTHING_NAMES = gettext_noop("No RF reference, invoice, bill or ticket names this transfer.")
ASSIGNED = gettext_noop("Assigned to %(account)s by %(user)s on %(when)s.")
ALREADY_CREDITED = gettext_noop("Already credited through ticket %(number)s: linked, not credited again.")
ALREADY_CREDITED_ON = gettext_noop(
    "Already credited on %(when)s through another line of our statements: linked, not credited again."
)
NAMES_ANOTHER_ACCOUNT = gettext_noop(
    "Names %(named)s, but this transfer was credited to %(account)s: %(named)s is flagged for finance to check."
)
CREDITED_ON = gettext_noop("Credited %(amount)s on %(when)s.")
NOT_CREDITED = gettext_noop("Not credited: %(why)s")
MEMBER_NOT_AUTO_CREDITED = gettext_noop(
    "Not credited by itself: an enterprise member of %(master)s, whose funds come from its master and which takes no "
    "top-ups. Confirm it to credit the member, assign it to another account, or set it aside to return it."
)
IMPORTER_MAY_NOT_CREDIT = gettext_noop(
    "Not credited by itself: %(user)s, who imported this statement, may not credit transfers. A finance user who may "
    "must confirm it."
)
NOT_GIVEN_BACK = gettext_noop(
    "It books again what %(debit)s took back, and finance took that back from the customer; not given back by "
    "itself (%(why)s). Another finance user gives it back by confirming this line."
)
OWN_NOT_AUTO_CREDITED = gettext_noop(
    "Not credited by itself: it names the account of %(user)s, who imported this statement. Another finance user "
    "must confirm it."
)
LARGE_NOT_AUTO_CREDITED = gettext_noop(
    "Not credited by itself: a credit of %(amount)s needs two finance users. Confirm it to propose it."
)
SET_ASIDE = gettext_noop("Set aside by %(user)s on %(when)s, %(reason)s: %(note)s")  # the clerk's words as written
RETURNED = gettext_noop("returned to the payer")
NOT_A_PAYMENT = gettext_noop("not a customer payment")
PUT_BACK = gettext_noop("Put back to be credited by %(user)s on %(when)s.")
# Held back from crediting on import, whatever the line names: finance credits it by hand or sets it aside.
BATCH_NOT_SPLIT = gettext_noop(
    "A batch of %(count)s transactions the bank booked as one entry, whose amounts do not add up to it: not "
    "credited; split it by hand."
)
LISTED_TWICE = gettext_noop(
    "Listed again under the bank's reference %(reference)s in this statement, with no reversal between: one "
    "transfer, not credited twice. Check with the bank before crediting it by hand."
)
REVERSED_HERE = gettext_noop(
    "The bank reversed this credit of %(reference)s later in this statement: not credited (a credit it booked "
    "again is credited under the reference)."
)
IDENTICAL_FOLLOWING_ON = gettext_noop(
    "Identical to a line of an earlier statement (no reference of the bank's), and this statement follows on from "
    "that one: perhaps a second payment. Not credited; check it, then credit it by hand or set it aside."
)
REVERSAL_REBOOKED = gettext_noop(
    "Reverses the credit %(reference)s, which the bank booked again later in this statement."
)
RETURNS_CREDIT = gettext_noop(
    "Takes back the transfer %(reference)s credited to %(account)s: the account is flagged for finance to reverse "
    "the credit."
)
# A needs-review note on the customer's account (accounts.review_notes' kind of note).
TRANSFER_RETURNED = gettext_noop(
    "Our bank statement's debit %(debit)s of %(amount)s on %(date)s takes back the transfer %(reference)s of "
    "%(credited)s credited to this account: reverse the credit, or check with the customer."
)
CREDIT_TAKEN_BACK = gettext_noop("%(user)s took %(amount)s back from %(account)s on %(when)s.")
CREDITED_AGAIN = gettext_noop(
    "The credit taken back after the debit %(debit)s was given back: %(amount)s credited again."
)
# A needs-review note on the customer's account: the bank booked a transfer again after finance took it back.
TRANSFER_CREDITED_AGAIN = gettext_noop(
    "Our bank statement books the transfer %(reference)s of %(amount)s again on %(date)s, after its debit %(debit)s "
    "took it back and its credit was taken back: the credit was given back; nothing to do."
)
REVERSES_CREDIT_HERE = gettext_noop("Reverses the credit %(reference)s listed before it in this statement.")
# A transfer taken back (TRANSFER_RETURNED) that the bank booked again in a later statement.
BOOKED_AGAIN = gettext_noop(
    "The bank booked the transfer it took back on %(returned)s (debit %(debit)s) again: the credit stands."
)
TRANSFER_BOOKED_AGAIN = gettext_noop(
    "Our bank statement books the transfer %(reference)s of %(amount)s again on %(date)s, after its debit %(debit)s "
    "took it back: the credit stands; do not reverse it (or credit it again if it was reversed)."
)

# A statement line's suggestions: an account, and why it is suggested.
ACCOUNT = gettext_noop("%(name)s (#%(id)s)")
UNNAMED_ACCOUNT = gettext_noop("account #%(id)s")
PAID_BEFORE = gettext_noop("%(account)s (paid from this payer before)")
MISTYPED_RF = gettext_noop("%(account)s (from a mistyped RF)")

known_messages(
    PROPOSED, PROPOSED_CONVERTED, CREDITED, CREDITED_CONVERTED, MATCHED_ON, SENT_BACK, DEBIT, OTHER_CURRENCY,
    SEVERAL_ACCOUNTS, RF_NAMES, RF_WRONG_DIGITS, RF_NO_ACCOUNT, INVOICE_OF, BILL_OF, TICKET_OF_ACCOUNT,
    TICKET_SAME_REFERENCE, TICKET_SAME_PAYMENT, SEVERAL_TICKETS, NOTHING_NAMES, ASSIGNED, ALREADY_CREDITED,
    CREDITED_ON, ACCOUNT, UNNAMED_ACCOUNT, PAID_BEFORE, MISTYPED_RF, NOT_CREDITED, SET_ASIDE, RETURNED,
    NOT_A_PAYMENT, MEMBER_NOT_AUTO_CREDITED, IMPORTER_MAY_NOT_CREDIT, OWN_NOT_AUTO_CREDITED, LARGE_NOT_AUTO_CREDITED,
    NOT_GIVEN_BACK, PUT_BACK, ALREADY_CREDITED_ON, NAMES_ANOTHER_ACCOUNT, BATCH_NOT_SPLIT,
    LISTED_TWICE, REVERSED_HERE, REVERSES_CREDIT_HERE, IDENTICAL_FOLLOWING_ON,
    REVERSAL_REBOOKED, RETURNS_CREDIT, TRANSFER_RETURNED, BOOKED_AGAIN, TRANSFER_BOOKED_AGAIN, CREDIT_TAKEN_BACK,
    CREDITED_AGAIN, TRANSFER_CREDITED_AGAIN,
    # The customer read "your bank statement" for ours, until 2026-12-05.
    reworded={"Received on %(date)s, matched with your bank statement.": MATCHED_ON},
)  # fmt: skip

EXPLANATION_SEPARATOR, SUGGESTION_SEPARATOR = "\n", "; "


def credited(ticket, *, matched_on=None) -> Description:
    """The credit's line in a ticket's thread."""
    if matched_on is not None:
        return describe(MATCHED_ON, date=matched_on)
    if ticket.exchange_rate is not None:
        received, rate = ticket.received_amount, ticket.exchange_rate_shown
        return describe(CREDITED_CONVERTED, amount=ticket.credit_amount, received=received, rate=rate)
    return describe(CREDITED, amount=ticket.credit_amount)


def proposal(ticket) -> Description:
    """A proposal's figures, in the thread finance reads (as proposed, and as withdrawn)."""
    if ticket.exchange_rate is None:
        return describe(PROPOSED, received=ticket.received_amount, credit=ticket.credit_amount)
    rate = ticket.exchange_rate_shown
    return describe(PROPOSED_CONVERTED, received=ticket.received_amount, credit=ticket.credit_amount, rate=rate)


def account_label(account_id: int, name: str | None) -> Description:
    """An account as a statement line's notes name it: "Ada Lovelace (#12)"."""
    return describe(ACCOUNT, name=name, id=account_id) if name else describe(UNNAMED_ACCOUNT, id=account_id)


def joined(notes: list[Description], separator: str) -> tuple[str, list[dict]]:
    """A list of notes as a field and its parts store them."""
    return separator.join(notes), [parts_of(one) for one in notes]


def appended(text: str, parts: list | None, more: Description, separator: str) -> tuple[str, list | None]:
    """A field's text and parts with one more note. A row written before the parts existed has text
    and no parts: it goes on in plain text, so its earlier lines are not lost."""
    if text and parts is None:
        return f"{text}{separator}{more}", None
    return (f"{text}{separator}{more}" if text else str(more)), [*(parts or []), parts_of(more)]


def explain(line, more: Description) -> None:
    """Add a note to a statement line's explanation (the caller saves the line)."""
    line.explanation, line.explanation_parts = appended(
        line.explanation, line.explanation_parts, more, EXPLANATION_SEPARATOR
    )


def shown(text: str, parts, separator: str) -> str:
    """The stored notes for the reader, in the active language: a thread line's (one part) or a
    list's (one part per note); the stored text where there are no parts."""
    if not isinstance(parts, list):
        return entry_description(text, parts)
    lines = [entry_description("", one) for one in parts]
    return text if "" in lines or not lines else separator.join(lines)
