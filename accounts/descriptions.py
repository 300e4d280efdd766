"""Ledger entry descriptions, and the other texts our code writes, in the reader's language.

An entry our own code writes keeps its English text in `LedgerEntry.description`, as always
(finance's audit trail, admin's search, the webhooks' payloads), and beside it
`description_parts`: the message it was written from and its arguments,
{"text": <msgid>, "args": {...}}. Each page, CSV or PDF a customer reads shows
`entry_description(...)`: the message in the active language, with money formatted for the
reader (format_money) at that moment. Older rows and descriptions a caller gave (the usage
API's) have no parts and show as stored. A bill's settlements keep their note the same way
(bills.models.Settlement.note_parts), a ticket's thread lines and a statement line's explanation
too (tickets.notes, whose messages are declared with `known_messages`).

`describe(MESSAGE, **args)` builds a producer's description: a `Description`, the English text
(a str, so it goes wherever a description went: NewEntry, credit_deposit, transfer_funds…)
carrying its parts, which accounts.ledger's writer stores with it. Arguments are kept plain:
money as {"amount": "100.00", "currency": "EUR"}, a date as its ISO text, another Description
as its parts (a repayment's "…; settles B-…" wraps the payment's own), anything else as text.
"""

from datetime import date

from django.utils import translation
from django.utils.translation import gettext, gettext_noop
from djmoney.money import Money
from moneyed import CurrencyDoesNotExist

from money.formatting import format_money, format_rate

ONLINE_TOPUP = gettext_noop("Online top-up %(reference)s")
AUTO_TOPUP = gettext_noop("Auto top-up %(reference)s")
ONLINE_TOPUP_CONVERTED = gettext_noop("Online top-up %(reference)s: paid %(paid)s at %(rate)s")
AUTO_TOPUP_CONVERTED = gettext_noop("Auto top-up %(reference)s: paid %(paid)s at %(rate)s")
ONLINE_REPAYMENT = gettext_noop("Online repayment %(reference)s")
BANK_TRANSFER = gettext_noop("Bank transfer %(reference)s")
BANK_TRANSFER_CONVERTED = gettext_noop("Bank transfer %(reference)s: received %(received)s at %(rate)s")
BANK_TRANSFER_BOOKED = gettext_noop("Bank transfer %(reference)s, booked %(booked)s")
SETTLES = gettext_noop("%(payment)s; settles %(bills)s")
KEPT_AS_CREDIT = gettext_noop("%(payment)s; kept as credit")
REFUND = gettext_noop("Refund %(refund)s of top-up %(reference)s")
DISPUTED = gettext_noop("Card payment of top-up %(reference)s disputed (%(reason)s)")
DISPUTED_NO_REASON = gettext_noop("Card payment of top-up %(reference)s disputed (no reason given)")
DISPUTE_WON = gettext_noop("Dispute of top-up %(reference)s won: the payment is returned")
REPAYMENT_DISPUTED = gettext_noop("Repayment %(reference)s disputed: taken back by the card's bank")
TRANSFER_TAKEN_BACK = gettext_noop("Bank transfer %(reference)s returned by the bank (debit %(debit)s)")
TRANSFER_GIVEN_BACK = gettext_noop("Bank transfer %(reference)s booked again by the bank after its return")
ALLOCATION = gettext_noop("Allocation from %(master)s to %(member)s")
RECLAIM = gettext_noop("Reclaim by %(master)s from %(member)s")
USAGE = gettext_noop("Usage (%(service)s)")
CREDIT_FROM_EARLIER = gettext_noop("Credit from earlier repayments")  # a bill's settlement, not an entry

# Why a cardholder disputed a payment: the reasons Stripe documents (the dispute object's
# `reason`), in words for people. The code is what the gateway sends and what is stored
# (topups.Dispute.reason); a reason not listed here is shown as the gateway wrote it.
DISPUTE_REASONS = {
    "bank_cannot_process": gettext_noop("bank cannot process"),
    "check_returned": gettext_noop("check returned"),
    "credit_not_processed": gettext_noop("credit not processed"),
    "customer_initiated": gettext_noop("customer initiated"),
    "debit_not_authorized": gettext_noop("debit not authorized"),
    "duplicate": gettext_noop("duplicate"),
    "fraudulent": gettext_noop("fraudulent"),
    "general": gettext_noop("general"),
    "incorrect_account_details": gettext_noop("incorrect account details"),
    "insufficient_funds": gettext_noop("insufficient funds"),
    "noncompliant": gettext_noop("noncompliant"),
    "product_not_received": gettext_noop("product not received"),
    "product_unacceptable": gettext_noop("product unacceptable"),
    "subscription_canceled": gettext_noop("subscription canceled"),
    "unrecognized": gettext_noop("unrecognized"),
}
# Arguments that are codes with words of their own, per message: rendered in the reader's language,
# for older entries too (their parts hold the code as the gateway sent it).
CODED_ARGS = {DISPUTED: {"reason": DISPUTE_REASONS}}

MESSAGES = set(
    {
        ONLINE_TOPUP, AUTO_TOPUP, ONLINE_TOPUP_CONVERTED, AUTO_TOPUP_CONVERTED, ONLINE_REPAYMENT, BANK_TRANSFER,
        BANK_TRANSFER_CONVERTED, BANK_TRANSFER_BOOKED, SETTLES, KEPT_AS_CREDIT, REFUND, DISPUTED,
        DISPUTED_NO_REASON, DISPUTE_WON, REPAYMENT_DISPUTED, ALLOCATION, RECLAIM, USAGE, CREDIT_FROM_EARLIER,
        TRANSFER_TAKEN_BACK, TRANSFER_GIVEN_BACK,
    }
)  # fmt: skip


# A message reworded since rows were written from it: its older rows read as the new words (same arguments).
REWORDED: dict[str, str] = {}


def known_messages(*messages: str, reworded: dict[str, str] | None = None) -> None:
    """Declare the messages another app writes its texts from (tickets.notes), when it is imported:
    `describe` takes them, and every reader sees them in their language. `reworded` maps a message's
    former words to its current ones, so the rows written before read as the new words too."""
    MESSAGES.update(messages)
    REWORDED.update(reworded or {})


class Description(str):
    """An entry's English text, carrying the parts it was written from (see the module's doc)."""

    parts: dict

    def __new__(cls, text: str, parts: dict):
        description = super().__new__(cls, text)
        description.parts = parts
        return description


def describe(message: str, **args) -> Description:
    """The description of MESSAGE (one of this module's) with `args`, in English, with its parts."""
    if message not in MESSAGES:
        raise ValueError(f"{message!r} is not a known message (accounts.descriptions).")
    parts = {"text": message, "args": {name: _plain(value) for name, value in args.items()}}
    return Description(_render(parts, "en"), parts)


def rate_text(rate, paid: str, credited: str) -> str:
    """A locked exchange rate as descriptions print it, one unit of the credited currency in the paid one:
    "1 USD = 7.1000 CNY", as receipts and the rate sheets read. It had read "7.1000 CNY/USD", which a
    market quote's reader takes the other way round (USD/CNY 7.1 is how many yuan a dollar buys)."""
    return f"1 {credited} = {format_rate(rate)} {paid}"


def parts_of(description: str) -> dict | None:
    """The parts a description carries (None for plain text): what the ledger stores."""
    return getattr(description, "parts", None)


def entry_description(description: str, parts: dict | None) -> str:
    """An entry's description for the reader, in the active language: its parts rendered, or
    the stored text when it has none (or parts this code no longer knows: an amount that is no number, a currency
    no longer known, had been a 500 on admin's Recent actions; found by a helper)."""
    if not parts:
        return description
    try:
        return _render(parts, None)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, CurrencyDoesNotExist):
        return description


def _plain(value):
    if isinstance(value, Description):
        return value.parts
    if isinstance(value, Money):
        return {"amount": str(value.amount), "currency": str(value.currency)}
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _render(parts: dict, language: str | None) -> str:
    if language is not None:
        with translation.override(language):
            return _render(parts, None)
    message = REWORDED.get(parts["text"], parts["text"])
    if message not in MESSAGES:
        raise ValueError(message)
    coded = CODED_ARGS.get(message, {})
    return gettext(message) % {
        name: gettext(coded[name][value]) if isinstance(value, str) and value in coded.get(name, {}) else _shown(value)
        for name, value in parts["args"].items()
    }


def _shown(value) -> str:
    if isinstance(value, dict) and "text" in value:
        return _render(value, None)
    if isinstance(value, dict):
        return format_money(Money(value["amount"], value["currency"]))
    return value
