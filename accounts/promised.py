"""Money an account has promised to pay out and not paid yet: refunds asked of the gateway, which are debited
when it says they succeeded (topups.refunds), and disputes held open, debited if they are lost (topups.disputes,
DISPUTE_POLICY="hold"). The apps that promise sit above accounts, so each registers what its promises come to. A
refund, a move of the account's money to another account (an enterprise allocation) and a change of its type leave
that much where it is, or the promise would overdraw the account once it is kept (found by helpers)."""

from djmoney.money import Money

PROMISES: list = []


def register(promised) -> None:
    """`promised(account_id, currency) -> Money`: what the account has promised and not paid yet."""
    PROMISES.append(promised)


def promised_out(account_id: int, currency: str) -> Money:
    """Everything the account has promised and not paid yet, in its currency (read under the caller's lock)."""
    return sum((promised(account_id, currency) for promised in PROMISES), Money(0, currency))
