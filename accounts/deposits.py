"""Money-in records across every way money arrives: the Top-up records page and the
"awaiting payment" notes on the Overview.

Each money-in path lives in an app above this one (online top-ups, bank-transfer
tickets, and those to come), so accounts cannot import them. Instead each registers a
DepositSource in its AppConfig.ready(); this module asks every registered source and
merges their answers. Imports keep running one way, and a new path adds a source, not a
branch here.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from django.db import models
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from .models import Account


class RecordStatus(models.TextChoices):
    """The statuses the records page filters by; each source maps its own states onto them."""

    PENDING = "pending", _("Awaiting payment")
    CREDITED = "credited", _("Credited")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


@dataclass(frozen=True)
class DepositRecord:
    """One line of Top-up records."""

    created_at: datetime
    reference: str
    url: str
    method: str
    amount: Money
    credited: Money | None
    status: str  # the badge's css key
    status_label: str
    exchange_rate: Decimal | None


@dataclass(frozen=True)
class AwaitingPayment:
    """A deposit the customer started and has not paid yet (shown on the Overview)."""

    reference: str
    url: str
    amount: Money
    cancel_url: str = ""  # where a POST gives it up, if the customer can


@dataclass(frozen=True)
class Attention:
    """Something about a money-in path the customer should act on (shown on the Overview)."""

    text: str
    url: str
    link_text: str


class DepositSource(Protocol):
    method: str  # the records page's method filter value, e.g. "online"
    label: str  # what the filter shows, e.g. "Online payment"

    def keys(self, account: Account, *, status: str, first: date | None, last: date | None) -> models.QuerySet:
        """The account's records as values_list("at", "pk", "kind"), unordered, filtered."""

    def load(self, pks: list[int]) -> dict[int, DepositRecord]: ...

    def overview(self, account: Account, *, limit: int) -> tuple[list[AwaitingPayment], list[Attention]]:
        """What the Overview shows of this path: payments started and not made, and problems."""

    def in_flight(self, account: Account) -> int:
        """How many of the account's deposits are not settled yet (accounts.lifecycle asks)."""


_sources: dict[str, DepositSource] = {}


def register(source: DepositSource) -> None:
    """Called from an app's ready(); registering the same method again replaces it."""
    _sources[source.method] = source


def sources() -> list[DepositSource]:
    return list(_sources.values())


def record_keys(account: Account, filters: dict):
    """(time, id, kind) of the account's records, newest first, filtered: one UNION query that
    a Paginator can count and slice, so a page loads only its own rows."""
    method, status = filters.get("method") or "", filters.get("status") or ""
    first, last = filters.get("date_from"), filters.get("date_to")
    parts = [
        source.keys(account, status=status, first=first, last=last)
        for source in sources()
        if method in ("", source.method)
    ]
    keys = parts[0] if len(parts) == 1 else parts[0].union(*parts[1:], all=True)
    return keys.order_by("-at", "-pk")


def load_records(keys: Iterable[tuple]) -> list[DepositRecord]:
    """The records for a page of record_keys, in the same order: one query per source."""
    keys = list(keys)
    loaded = {
        method: source.load([pk for _, pk, kind in keys if kind == method]) for method, source in _sources.items()
    }
    return [loaded[kind][pk] for _, pk, kind in keys]


def overview_items(account: Account, *, limit: int = 3) -> tuple[list[AwaitingPayment], list[Attention]]:
    """Every source's awaiting payments (the newest `limit`, and one more if there are more, so
    the Overview can say so) and problems, for the Overview. An enterprise member has no money-in
    path of its own (its funds come by allocation, accounts.enterprise): nothing to ask."""
    awaiting, attention = [], []
    if account.type == Account.Type.ENTERPRISE_MEMBER:
        return awaiting, attention
    for source in sources():
        waiting, problems = source.overview(account, limit=limit + 1)
        awaiting += waiting
        attention += problems
    return awaiting[: limit + 1], attention
