"""Money-in records across every way money arrives: the Top-up records page and the
"awaiting payment" notes on the Overview.

Each money-in path lives in an app above this one (online top-ups, bank-transfer
tickets, and those to come), so accounts cannot import them. Instead each registers a
DepositSource in its AppConfig.ready(); this module asks every registered source and
merges their answers. Imports keep running one way, and a new path adds a source, not a
branch here.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from django.db import models
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from billing_center.keyset import Keyset, Merged

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

    def records(self, account: Account, *, status: str, first: date | None, last: date | None) -> models.QuerySet:
        """The account's records, filtered, unordered, with `at` (the record's time) annotated.
        They are read a page at a time in (at, pk) order: an (account, -time, -id) index must
        serve that order, so a page costs the same at any number of records."""

    def record(self, row) -> DepositRecord:
        """One row of records() as the page and the CSV show it (no query of its own)."""

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


def deposit_records(account: Account, filters: dict) -> Merged:
    """Every source's records as one list, newest first, read a page (or a CSV's chunk) at a
    time by billing_center.keyset: one short query per source, never a count of them all."""
    method, status = filters.get("method") or "", filters.get("status") or ""
    first, last = filters.get("date_from"), filters.get("date_to")
    return Merged(
        [
            Keyset(
                source.records(account, status=status, first=first, last=last),
                time="at",
                pk="pk",
                tag=source.method,
                convert=source.record,
            )
            for source in sources()
            if method in ("", source.method)
        ]
    )


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
