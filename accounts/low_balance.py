"""Refill: what happens when a balance falls below the account's refill_below, once per crossing.

The rule itself (auto top-up: charge a saved card) lives in an app above accounts, which
registers its handler here from its AppConfig.ready(); the ledger writer only notices the
crossing under the account's row lock and hands the account id to the handlers after commit.
"""

from collections.abc import Callable

from django.db import transaction

_handlers: list[Callable[[int], None]] = []


def register(handler: Callable[[int], None]) -> None:
    """Called from an app's ready(); the handler gets an account id, after commit, and publishes."""
    if handler not in _handlers:
        _handlers.append(handler)


def refill_after_commit(account_id: int) -> None:
    for handler in _handlers:
        transaction.on_commit(lambda handler=handler: handler(account_id))
