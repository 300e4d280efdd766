"""Errors of accounts and the ledger; the kinds (Invalid, Refused, …) are in money.errors."""

from money.errors import Conflict, Refused


class TopUpNotAllowed(Refused):
    """Top-up is for prepaid accounts: postpaid ones repay bills, members get funds from their master."""

    code = "topup_not_allowed"


class AccountChangeRefused(Refused):
    """An account's type or master cannot change while money or payments are in flight."""

    code = "account_change_refused"


class InsufficientFunds(Conflict):
    """An allocation larger than the master's available funds, or a reclaim larger than the member's:
    the funds, not the person, say no (a 409; it had been a 403, which reads as "not allowed")."""

    code = "insufficient_funds"
