"""Usage charges: the cloud's metering services debit what customers used, exactly once.

Each charge is keyed by (service, idempotency key): a retried call answers with the charge
it created, a changed body under a used key is a conflict. Debits are what make balances
fall, and so what makes the expenditure alert fire (accounts.alerts, via the ledger).
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from djmoney.money import Money

from billing_center.db import insert_rows
from money.errors import BillingError, Conflict, CurrencyMismatch, NotFound

from ..balances import lock_accounts
from ..credit_limits import flag_charges_over_limit
from ..descriptions import USAGE, describe
from ..ledger import NewEntry, Posted, post_ledger_rows
from ..models import LedgerEntry, UsageCharge
from ..outbound_webhooks.events import NewEvent, emit_many, listening, money

# The columns a batch writes for its charges, by attname (billing_center.db.insert_rows).
CHARGE_FIELDS = (
    "service", "idempotency_key", "request_hash", "account_id", "amount", "amount_currency", "description",
    "ledger_entry_id", "created_at",
)  # fmt: skip
# What a charge already stored is read as (a Charge, in its order).
STORED_FIELDS = (
    "id", "idempotency_key", "account_id", "amount", "amount_currency", "description",
    "ledger_entry__balance_after", "ledger_entry__balance_after_currency", "created_at", "request_hash",
)  # fmt: skip

# The limits the API enforces and its OpenAPI document states (accounts.usage_api.openapi_schemas).
MAX_BATCH = 1000
KEY = re.compile(r"[A-Za-z0-9_.:\-]{1,100}", re.ASCII)
LARGEST_CHARGE = Decimal("1000000000")


@dataclass(frozen=True)
class ChargeRequest:
    account_id: int
    amount: Money
    idempotency_key: str
    description: str = ""

    @property
    def fingerprint(self) -> str:
        """What "the same body" means for an idempotency key: these four, normalised."""
        canonical = json.dumps(
            [self.account_id, f"{self.amount.amount.normalize():f}", str(self.amount.currency), self.description]
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Charge:
    """A stored charge as the API answers with it and charge.created lists it: plain values, no
    model instance (a batch answers a thousand, and building UsageCharge and LedgerEntry
    instances for them had cost more than the database's work). `id` is the UsageCharge's."""

    id: int
    idempotency_key: str
    account_id: int
    amount: Money
    description: str
    balance_after: Money  # the account's balance after this charge's ledger entry
    created_at: datetime
    request_hash: str


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """One charge's outcome. An error carries its kind (money.errors), which the API turns
    into a status; the service itself knows nothing of HTTP."""

    idempotency_key: str
    outcome: str  # "created" | "duplicate" | "error"
    charge: Charge | None = None
    error: BillingError | None = None


def post_usage_charges(
    *, service: str, requests: list[ChargeRequest], now: datetime | None = None
) -> list[ChargeResult]:
    """Debit usage, exactly once per (service, idempotency key), in one transaction.

    Every account touched is locked once (id order); keys already posted answer with their
    original charge, or an error if the body differs; one bad charge does not stop the
    others. Balances may go below zero. A concurrent batch that wins a key between our read
    and our insert makes the insert fail; the batch is then retried and sees that key.
    """
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _post_usage_charges(service, requests, now)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _post_usage_charges(service: str, requests: list[ChargeRequest], now: datetime | None) -> list[ChargeResult]:
    accounts = lock_accounts(r.account_id for r in requests)
    # Timed once the accounts are locked: a charge that waited for an account turning postpaid is postpaid usage
    # (bills.cycle.unbilled_usage bills what was posted from Account.postpaid_since; found by a helper).
    now = now or timezone.now()
    posted = _stored_charges(service, [r.idempotency_key for r in requests])
    results: list[ChargeResult | None] = []
    pending: dict[str, tuple[int, ChargeRequest, str]] = {}  # key -> (index, request, fingerprint)
    # A key's first use in this batch: its fingerprint, and its error if it was refused. A later charge under
    # the key is judged against it: one refused had left its key free, and a later charge took it.
    first_use: dict[str, tuple[str, ChargeResult | None]] = {}
    for index, request in enumerate(requests):
        key, fingerprint = request.idempotency_key, request.fingerprint
        earlier = posted.get(key)
        if earlier is None and key in first_use:
            used_with, refused = first_use[key]
            if used_with != fingerprint:
                results.append(reused_key(key))
            else:  # the same charge again: the same answer (a duplicate is filled in below)
                results.append(refused or ChargeResult(key, "duplicate"))
            continue
        if earlier is not None:
            same = earlier.request_hash == fingerprint
            results.append(ChargeResult(key, "duplicate", charge=earlier) if same else reused_key(key))
            continue
        refused = _refusal(request, accounts.get(request.account_id))
        first_use[key] = (fingerprint, refused)
        if refused is not None:
            results.append(refused)
            continue
        pending[key] = (index, request, fingerprint)
        results.append(None)
    if pending:
        before = {pk: account.balance for pk, account in accounts.items()}
        new = [request for _index, request, _fingerprint in pending.values()]
        entries = _post_debits(service, new, accounts, now)
        flag_charges_over_limit(before, accounts, now=now)
        charges = _insert_charges(service, list(pending.values()), entries, now)
        by_key = {c.idempotency_key: c for c in charges}
        _charges_created(service, charges)
        for index, request, _fingerprint in pending.values():
            results[index] = ChargeResult(request.idempotency_key, "created", charge=by_key[request.idempotency_key])
        for index, result in enumerate(results):
            if result.outcome == "duplicate" and result.charge is None:
                results[index] = ChargeResult(
                    result.idempotency_key, "duplicate", charge=by_key[result.idempotency_key]
                )
    return results


def _stored_charges(service: str, keys: list[str]) -> dict[str, Charge]:
    """The charges already stored under these keys, by key."""
    rows = UsageCharge.objects.filter(service=service, idempotency_key__in=keys).values_list(*STORED_FIELDS)
    return {
        key: Charge(pk, key, account_id, Money(amount, currency), description, Money(after, after_currency), at, sha)
        for pk, key, account_id, amount, currency, description, after, after_currency, at, sha in rows
    }


def _post_debits(service: str, requests: list[ChargeRequest], accounts: dict, now: datetime) -> list[Posted]:
    """The charges' debits, one USAGE entry each, through the ledger's writer on the accounts the
    batch holds locked: each entry's id and the balance after it."""
    default = describe(USAGE, service=service)  # for a charge sent without a description of its own
    return post_ledger_rows(
        [
            NewEntry(
                account_id=r.account_id,
                amount=-r.amount,
                kind=LedgerEntry.Kind.USAGE,
                source_ref=f"charge:{service}:{r.idempotency_key}",
                description=r.description or default,
            )
            for r in requests
        ],
        locked=accounts,
        now=now,
    )


def _insert_charges(
    service: str, pending: list[tuple[int, ChargeRequest, str]], entries: list[Posted], now: datetime
) -> list[Charge]:
    """Store new charges, each with its ledger entry (one statement per batch), as Charges."""
    rows = [
        (service, r.idempotency_key, fingerprint, r.account_id, r.amount.amount, str(r.amount.currency),
         r.description, entry.id, now)
        for (_index, r, fingerprint), entry in zip(pending, entries, strict=True)
    ]  # fmt: skip
    ids = insert_rows(UsageCharge, CHARGE_FIELDS, rows, key=("service", "idempotency_key"))
    return [
        Charge(pk, r.idempotency_key, r.account_id, r.amount, r.description, entry.balance_after, now, fingerprint)
        for pk, (_index, r, fingerprint), entry in zip(ids, pending, entries, strict=True)
    ]


def _charges_created(service: str, charges: list[Charge]) -> None:
    """charge.created: one event per account and API call, listing its new charges."""
    heard = listening("charge.created", {charge.account_id for charge in charges})
    by_account: dict[int, list[Charge]] = {}
    for charge in charges:
        if charge.account_id in heard:
            by_account.setdefault(charge.account_id, []).append(charge)
    emit_many(
        [
            NewEvent(
                "charge.created",
                account_id,
                {
                    "service": service,
                    "charges": [
                        {"idempotency_key": c.idempotency_key, "amount": money(c.amount), "description": c.description}
                        for c in listed
                    ],
                    "balance_after": money(listed[-1].balance_after),
                },
            )
            for account_id, listed in by_account.items()
        ]
    )


def reused_key(key: str) -> ChargeResult:
    """The answer to a charge under a key used with another body."""
    message = _("This idempotency key was used with a different charge.")
    return _error(key, Conflict(message, code="idempotency_key_reused"))


def _refusal(request: ChargeRequest, account) -> ChargeResult | None:
    """Why a new charge cannot be posted to its (locked) account, or None."""
    key = request.idempotency_key
    if account is None:
        message = _("There is no account %(account)s.") % {"account": request.account_id}
        return _error(key, NotFound(message, code="unknown_account"))
    if str(request.amount.currency) != account.billing_currency:
        message = _("Account %(account)s is billed in %(billed)s, not %(currency)s.") % {
            "account": account.pk,
            "billed": account.billing_currency,
            "currency": request.amount.currency,
        }
        return _error(key, CurrencyMismatch(message))
    return None


def _error(key: str, error: BillingError) -> ChargeResult:
    return ChargeResult(key, "error", error=error)
