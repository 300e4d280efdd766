"""Every write to accounts and the ledger goes through here."""

import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, Sum
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from billing_center.db import insert_new
from money.errors import BillingError, CurrencyMismatch
from money.formatting import format_money

from . import outbox
from .models import (
    LEDGER_PLACES,
    Account,
    AlertRecipient,
    LedgerEntry,
    OutboundEmail,
    OutboundSms,
    ServiceToken,
    UsageCharge,
)
from .phones import InvalidPhoneNumber, mask, normalise_mobile
from .sms.base import SmsError
from .sms.base import get_backend as get_sms_backend

logger = logging.getLogger(__name__)
MAX_EMAIL_ATTEMPTS = 8


@dataclass(frozen=True)
class NewEntry:
    """One balance change for post_ledger_entries: positive credits, negative debits."""

    account_id: int
    amount: Money
    kind: str
    source_ref: str
    actor: object = None
    description: str = ""


def post_ledger_entry(
    *,
    account_id: int,
    amount: Money,
    kind: str,
    source_ref: str,
    actor=None,
    description: str = "",
    now: datetime | None = None,
) -> LedgerEntry:
    """Move `amount` (positive credits, negative debits) into an account's balance."""
    entry = NewEntry(account_id, amount, kind, source_ref, actor, description)
    return post_ledger_entries([entry], now=now)[0]


@dataclass
class LockedAccount:
    """The columns of a locked account row that a posting reads and writes, without the
    cost of a model instance (a batch of charges locks up to a thousand)."""

    pk: int
    balance: Money
    alert_threshold: Decimal | None
    alert_enabled: bool
    alert_armed: bool

    @property
    def billing_currency(self) -> str:
        return str(self.balance.currency)


def lock_accounts(account_ids) -> dict[int, LockedAccount]:
    """Lock the accounts' rows for this transaction, in id order so that two postings
    cannot deadlock, and read what a posting needs."""
    rows = (
        Account.objects.select_for_update()
        .filter(pk__in=sorted(set(account_ids)))
        .order_by("pk")
        .values_list("pk", "balance", "balance_currency", "alert_threshold", "alert_enabled", "alert_armed")
    )
    return {
        pk: LockedAccount(pk, Money(balance, currency), threshold, enabled, armed)
        for pk, balance, currency, threshold, enabled, armed in rows
    }


@transaction.atomic
def post_ledger_entries(
    entries: list[NewEntry], *, now: datetime | None = None, locked: dict[int, LockedAccount] | None = None
) -> list[LedgerEntry]:
    """The only writer of Account.balance: append entries and update the cached balances.

    Every account touched is locked first, once, in id order (so two batches cannot
    deadlock), and each entry's balance_after is computed from the committed balance; the
    unique (kind, source_ref) behind it refuses a second entry for one source. The alert
    state follows the balance here: back at or above the threshold re-arms the alert, and
    falling below it while armed hands the check to a worker after commit.

    A caller that already holds the accounts' locks in this transaction (the batch charge
    service) passes those rows as `locked`, so they are not locked and loaded twice.

    The writes are plain SQL from tuples (billing_center.db.insert_new, _write_balances):
    through the ORM, building and preparing the statements cost more than PostgreSQL's own
    work (bench/README.md).
    """
    if not entries:
        return []
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("post_ledger_entries needs an aware datetime.")
    account_ids = sorted({entry.account_id for entry in entries})
    accounts = lock_accounts(account_ids) if locked is None else {pk: locked[pk] for pk in account_ids if pk in locked}
    missing = set(account_ids) - set(accounts)
    if missing:
        raise Account.DoesNotExist(f"No account {min(missing)}.")
    balances = {pk: account.balance for pk, account in accounts.items()}
    created = []
    for entry in entries:
        account = accounts[entry.account_id]
        if entry.amount.amount == 0:
            raise BillingError("A ledger entry cannot be zero.", code="zero_amount")
        if entry.amount.amount != entry.amount.amount.quantize(LEDGER_PLACES):
            # The columns hold two places: the database would round each value on its own,
            # and an account's entries would no longer add up to its balance.
            raise BillingError(
                f"{entry.amount.amount} has more decimal places than the ledger keeps (two).", code="amount_places"
            )
        if entry.amount.currency != account.balance.currency:
            raise CurrencyMismatch(
                f"Account {account.pk} is billed in {account.balance.currency}; "
                f"an entry in {entry.amount.currency} cannot be posted."
            )
        balances[account.pk] = balances[account.pk] + entry.amount
        created.append(
            LedgerEntry(
                account_id=account.pk,
                amount=entry.amount,
                kind=entry.kind,
                source_ref=entry.source_ref,
                actor=entry.actor,
                description=entry.description[:300],
                balance_after=balances[account.pk],
                created_at=now,
            )
        )
    _insert_entries(created)
    for pk, account in accounts.items():
        _follow_balance(account, balances[pk])
    _write_balances(list(accounts.values()))
    return created


LEDGER_COLUMNS = (
    "account_id",
    "amount",
    "amount_currency",
    "kind",
    "source_ref",
    "description",
    "actor_id",
    "balance_after",
    "balance_after_currency",
    "created_at",
)


def _insert_entries(entries: list[LedgerEntry]) -> None:
    created_at = connection.ops.adapt_datetimefield_value(entries[0].created_at)
    insert_new(
        entries,
        LEDGER_COLUMNS,
        lambda e: (
            e.account_id,
            e.amount.amount,
            str(e.amount.currency),
            e.kind,
            e.source_ref,
            e.description,
            e.actor_id,
            e.balance_after.amount,
            str(e.balance_after.currency),
            created_at,
        ),
    )


def _write_balances(accounts: list[LockedAccount]) -> None:
    """Store the new balances and alert state of locked rows: one statement per batch on
    PostgreSQL (UPDATE … FROM (VALUES …); Django's bulk_update builds a CASE per row, which
    costs more than the whole rest of a 1,000-charge batch), one per account elsewhere."""
    table = connection.ops.quote_name(Account._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = ", ".join(["(%s, %s::numeric, %s)"] * len(accounts))
            cursor.execute(
                f'UPDATE {table} AS a SET "balance" = v.balance, "alert_armed" = v.armed '
                f"FROM (VALUES {values}) AS v(id, balance, armed) WHERE a.id = v.id",
                [p for a in accounts for p in (a.pk, a.balance.amount, a.alert_armed)],
            )
        else:
            cursor.executemany(
                f'UPDATE {table} SET "balance" = %s, "alert_armed" = %s WHERE "id" = %s',
                [(a.balance.amount, a.alert_armed, a.pk) for a in accounts],
            )


def _follow_balance(account: LockedAccount, after: Money) -> None:
    """Set the new balance on the locked row, and the alert state that follows from it."""
    account.balance = after
    threshold = account.alert_threshold
    if threshold is None:
        return
    if after.amount >= threshold:
        account.alert_armed = True
    elif account.alert_enabled and account.alert_armed:
        account_id = account.pk
        transaction.on_commit(lambda: _publish_alert_check(account_id))


def _publish_alert_check(account_id: int) -> None:
    from .tasks import check_balance_alert

    _publish(check_balance_alert, account_id)


def ledger_mismatches() -> list[tuple[Account, Money]]:
    """Accounts whose cached balance differs from the sum of their entries, with that sum."""
    sums = dict(
        LedgerEntry.objects.values_list("account_id").annotate(total=Sum("amount")).values_list("account_id", "total")
    )
    mismatches = []
    for account in Account.objects.order_by("pk").iterator(chunk_size=2000):
        # PostgreSQL sums NUMERIC exactly; SQLite sums in floating point, so its total is
        # rounded back to the column's two places before comparing.
        total = Money(Decimal(str(sums.get(account.pk) or 0)).quantize(LEDGER_PLACES), account.balance.currency)
        if total != account.balance:
            mismatches.append((account, total))
    return mismatches


# --- Preferences ------------------------------------------------------------------------


def set_payment_currency(*, account_id: int, currency: str, actor) -> Account:
    if currency not in settings.PAYMENT_CURRENCIES:
        raise BillingError(f"{currency} is not a currency we accept payments in.", code="unknown_currency")
    account = Account.objects.get(pk=account_id)
    # Stored empty when it is the billing currency, so "pay as billed" survives a future change.
    account.payment_currency = "" if currency == account.billing_currency else currency
    account._history_user = actor
    account.save(update_fields=["payment_currency"])
    return account


# --- E-mail outbox ----------------------------------------------------------------------


def queue_email(*, dedupe_key: str, to: str, subject: str, body: str, account: Account | None = None):
    """Record an e-mail in the caller's transaction and hand it to a worker after commit.

    A second call with the same key (a retried credit) queues nothing new.
    """
    from .tasks import send_email

    return _queue_message(
        OutboundEmail, send_email, dedupe_key=dedupe_key, to=to, subject=subject, body=body, account=account
    )


def _queue_message(model, task, *, dedupe_key: str, **fields):
    """The outbox row for one cause (its dedupe key), and its task published after commit.

    The row is inserted first, without reading: a key is new far more often than not. A key
    already queued (a retried cause) keeps its row and publishes nothing new.
    """
    try:
        with transaction.atomic():
            message = model.objects.create(dedupe_key=dedupe_key, **fields)
    except IntegrityError:
        existing = model.objects.filter(dedupe_key=dedupe_key).first()
        if existing is None:
            raise  # not the dedupe key: a real error
        return existing
    transaction.on_commit(lambda: _publish(task, message.pk))
    return message


# After a failed publish this process stops trying for a while: with the broker down, each
# attempt costs a connection timeout, and a request must not pay it over and over. What is
# not published meanwhile is found by the periodic sweeps (outbox rows, alert candidates).
BROKER_RETRY_AFTER_SECONDS = 30
_broker_down_until = 0.0


def _publish(task, *args) -> None:
    """Hand a task to the broker; if the broker is away, the periodic resend catches up."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        logger.info("Broker recently unreachable; %s%s left to the periodic sweep", task.name, args)
        return
    try:
        task.apply_async(args=args, retry=False)
    except Exception as exc:  # any broker failure: the outbox row is the durable record
        _broker_down_until = time.monotonic() + BROKER_RETRY_AFTER_SECONDS
        logger.warning("Could not publish %s%s, the periodic resend will: %r", task.name, args, exc)


def deliver_email(*, email_id: int, now: datetime | None = None) -> OutboundEmail | None:
    """Send one queued e-mail at most once; safe to call from retried or duplicated tasks."""

    def send(email: OutboundEmail) -> None:
        send_mail(email.subject, email.body, settings.DEFAULT_FROM_EMAIL, [email.to])

    return outbox.deliver(OutboundEmail, email_id, send, max_attempts=MAX_EMAIL_ATTEMPTS, now=now)


def pending_email_ids(*, older_than_seconds: int = 60, now: datetime | None = None) -> list[int]:
    """E-mails whose task seems lost: pending a while after queueing, or claimed by a dead worker."""
    return outbox.lost_ids(OutboundEmail, older_than_seconds=older_than_seconds, now=now)


# --- SMS outbox -------------------------------------------------------------------------

MAX_SMS_ATTEMPTS = 5


def queue_sms(*, dedupe_key: str, to: str, text: str, account: Account | None = None, alert=None) -> OutboundSms:
    """Record an SMS in the caller's transaction and hand it to a worker after commit."""
    from .tasks import send_sms

    return _queue_message(
        OutboundSms, send_sms, dedupe_key=dedupe_key, to=to, text=text[:480], account=account, alert=alert
    )


def deliver_sms(*, sms_id: int, now: datetime | None = None) -> OutboundSms | None:
    """Send one queued SMS at most once per claim (see accounts.outbox)."""

    def send(sms: OutboundSms) -> str:
        try:
            return get_sms_backend().send(sms.to, sms.text, idempotency_key=sms.dedupe_key)
        except SmsError as exc:
            # Providers quote the number in their errors; what we keep shows it masked.
            message = str(exc).replace(sms.to, mask(sms.to))
            if not exc.retryable:
                raise outbox.PermanentFailure(message) from None
            raise SmsError(message, retryable=True) from None

    return outbox.deliver(OutboundSms, sms_id, send, max_attempts=MAX_SMS_ATTEMPTS, now=now)


def pending_sms_ids(*, older_than_seconds: int = 60, now: datetime | None = None) -> list[int]:
    return outbox.lost_ids(OutboundSms, older_than_seconds=older_than_seconds, now=now)


# --- Expenditure alert ------------------------------------------------------------------

ALERT_INTERVAL = timedelta(hours=24)
RUNWAY_DAYS = 7


def set_alert(*, account_id: int, enabled: bool, threshold: Decimal | None, actor) -> Account:
    """Save the Overview page's alert settings. A new threshold re-arms the alert, and if the
    balance is already below it, the check runs at once (after commit)."""
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        if not account.can_top_up:
            raise BillingError(
                "Expenditure alerts are for prepaid accounts, whose balance pays for resources.",
                code="alert_not_allowed",
            )
        if enabled and threshold is None:
            raise BillingError("Set a threshold to turn the alert on.", code="threshold_required")
        if threshold is not None and threshold < 0:
            raise BillingError("The threshold cannot be negative.", code="threshold_negative")
        changed = threshold != account.alert_threshold or (enabled and not account.alert_enabled)
        account.alert_enabled, account.alert_threshold = enabled, threshold
        if changed:
            account.alert_armed = True
        account._history_user = actor
        account.save(update_fields=["alert_enabled", "alert_threshold", "alert_armed"])
        if enabled:
            transaction.on_commit(lambda: _publish_alert_check(account_id))
    return account


def check_balance_alert(*, account_id: int, now: datetime | None = None):
    """Fire the low-balance alert if the balance is below the threshold and the alert is armed.

    Once per crossing: the account row is locked, the alert is unique per (account,
    crossing), and firing disarms it until the balance is back at or above the threshold.
    At most one alert per ALERT_INTERVAL however the balance wobbles; the periodic sweep
    fires a deferred one later. Safe to run any number of times.
    """
    from .models import BalanceAlert

    now = now or timezone.now()
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        threshold = account.alert_threshold_money
        if not (account.alert_enabled and account.alert_armed and threshold is not None and account.can_top_up):
            return None
        if account.balance >= threshold:
            return None
        if account.last_alert_at and now - account.last_alert_at < ALERT_INTERVAL:
            return None
        crossing = account.alert_crossings + 1
        text = alert_text(account, now=now)
        alert, _ = BalanceAlert.objects.get_or_create(
            account=account,
            crossing=crossing,
            defaults={"balance": account.balance, "threshold": threshold, "text": text, "created_at": now},
        )
        for recipient in account.alert_recipients.filter(confirmed_at__isnull=False):
            key = f"alert:{account.pk}:{crossing}:{recipient.pk}"
            if recipient.kind == recipient.Kind.SMS:
                queue_sms(dedupe_key=key, to=recipient.address, text=text, account=account, alert=alert)
            else:
                queue_email(
                    dedupe_key=key,
                    to=recipient.address,
                    subject=f"{account.name[:120]}: balance below {format_money(threshold)}",
                    body=text,
                    account=account,
                )
        Account.objects.filter(pk=account.pk).update(alert_armed=False, alert_crossings=crossing, last_alert_at=now)
        return alert


def alert_text(account: Account, *, now: datetime) -> str:
    """Balance, threshold, a runway estimate from the last 7 days' usage, and where to pay."""
    text = (
        f"Billing Center: {account.name} balance is {format_money(account.balance)}, "
        f"below your alert threshold of {format_money(account.alert_threshold_money)}."
    )
    spent = (
        account.ledger_entries.filter(kind=LedgerEntry.Kind.USAGE, created_at__gte=now - timedelta(days=RUNWAY_DAYS))
        .aggregate(total=Sum("amount"))
        .get("total")
    )
    daily = -(spent or Decimal(0)) / RUNWAY_DAYS
    if account.balance.amount <= 0:
        text += " Your balance is used up; resources may be suspended."
    elif daily > 0:
        days = int(account.balance.amount / daily)
        text += (
            f" At your last {RUNWAY_DAYS} days' usage, about {days} day{'s' if days != 1 else ''} left."
            if days >= 1
            else " At your recent usage, it runs out within a day."
        )
    return f"{text} Top up: {settings.SITE_URL}{reverse('topups:pay')}"


def accounts_due_an_alert(*, now: datetime | None = None):
    """Ids of accounts whose alert should fire now: on, armed, below, and not alerted in 24 h."""
    now = now or timezone.now()
    return (
        Account.objects.filter(alert_enabled=True, alert_armed=True, alert_threshold__isnull=False)
        .filter(balance__lt=F("alert_threshold"))
        .filter(Q(last_alert_at__isnull=True) | Q(last_alert_at__lte=now - ALERT_INTERVAL))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def sweep_balance_alerts(*, now: datetime | None = None) -> int:
    """The safety net: check every account that should have fired (a lost task, a deferred alert)."""
    fired = 0
    for account_id in list(accounts_due_an_alert(now=now)[:100_000]):
        try:
            fired += check_balance_alert(account_id=account_id, now=now) is not None
        except Exception:  # one account's failure must not starve every account after it
            logger.exception("Balance alert check failed for account %s", account_id)
    return fired


# --- Alert recipients -------------------------------------------------------------------

CODE_VALID = timedelta(minutes=10)
MAX_CODE_ATTEMPTS = 5
MAX_CODES_PER_NUMBER = 5
MAX_CODES_PER_ACCOUNT_PER_DAY = 10
MAX_RECIPIENTS = 5


def add_sms_recipient(*, account_id: int, number: str, now: datetime | None = None) -> AlertRecipient:
    """Add a mobile number (normalised to E.164) and text it a one-time code to confirm it."""
    try:
        address = normalise_mobile(number)
    except InvalidPhoneNumber as exc:
        raise BillingError(str(exc), code="invalid_phone") from exc
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        recipient = account.alert_recipients.filter(kind=AlertRecipient.Kind.SMS, address=address).first()
        if recipient is None:
            _check_recipient_room(account)
            recipient = AlertRecipient.objects.create(account=account, kind=AlertRecipient.Kind.SMS, address=address)
        if not recipient.is_confirmed:
            send_confirmation_code(recipient=recipient, now=now)
        return recipient


def add_email_recipient(*, account_id: int, email: str) -> AlertRecipient:
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        address = email.strip().lower()
        existing = account.alert_recipients.filter(kind=AlertRecipient.Kind.EMAIL, address=address).first()
        if existing:
            return existing
        _check_recipient_room(account)
        return AlertRecipient.objects.create(
            account=account, kind=AlertRecipient.Kind.EMAIL, address=address, confirmed_at=timezone.now()
        )


def _check_recipient_room(account: Account) -> None:
    if account.alert_recipients.count() >= MAX_RECIPIENTS:
        raise BillingError(f"An alert goes to at most {MAX_RECIPIENTS} recipients; remove one first.", code="too_many")


def send_confirmation_code(*, recipient: AlertRecipient, now: datetime | None = None) -> None:
    """Text a fresh 6-digit code; a number gets at most MAX_CODES_PER_NUMBER of them."""
    now = now or timezone.now()
    if recipient.codes_sent >= MAX_CODES_PER_NUMBER:
        raise BillingError(
            "Too many codes were sent to this number. Remove it and add it again tomorrow, or contact support.",
            code="too_many_codes",
        )
    # Per account too, so removing and re-adding numbers cannot make us text without end.
    sent_today = OutboundSms.objects.filter(
        account_id=recipient.account_id, dedupe_key__startswith="code:", created_at__gte=now - timedelta(days=1)
    ).count()
    if sent_today >= MAX_CODES_PER_ACCOUNT_PER_DAY:
        raise BillingError(
            f"We sent {MAX_CODES_PER_ACCOUNT_PER_DAY} codes for this account in the last 24 hours. Try again tomorrow.",
            code="too_many_codes",
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    recipient.code_hash = _code_hash(recipient, code)
    recipient.code_expires_at = now + CODE_VALID
    recipient.code_attempts = 0
    recipient.codes_sent += 1
    recipient.save(update_fields=["code_hash", "code_expires_at", "code_attempts", "codes_sent"])
    queue_sms(
        dedupe_key=f"code:{recipient.pk}:{recipient.codes_sent}",
        to=recipient.address,
        # Short (one SMS segment) and without the account name a customer chose.
        text=f"Billing Center: your code is {code}. It confirms this number for balance alerts and is valid "
        f"for {int(CODE_VALID.total_seconds() // 60)} minutes.",
        account=recipient.account,
    )


def confirm_sms_recipient(
    *, account_id: int, recipient_id: int, code: str, now: datetime | None = None
) -> AlertRecipient:
    """Confirm a number with the code texted to it. A wrong guess is counted and committed
    before the refusal is raised: the counter must survive the error it causes."""
    now = now or timezone.now()
    with transaction.atomic():
        recipient = (
            AlertRecipient.objects.select_for_update()
            .filter(account_id=account_id, kind=AlertRecipient.Kind.SMS)
            .get(pk=recipient_id)
        )
        if recipient.is_confirmed:
            return recipient
        if recipient.code_attempts >= MAX_CODE_ATTEMPTS:
            refusal = BillingError("Too many wrong codes. Send a new code.", code="code_locked")
        elif recipient.code_expires_at is None or now > recipient.code_expires_at:
            refusal = BillingError("This code has expired. Send a new code.", code="code_expired")
        elif not hmac.compare_digest(recipient.code_hash, _code_hash(recipient, code.strip())):
            recipient.code_attempts += 1
            recipient.save(update_fields=["code_attempts"])
            left = MAX_CODE_ATTEMPTS - recipient.code_attempts
            refusal = BillingError(
                f"That code is not right; {left} tr{'ies' if left != 1 else 'y'} left.", code="bad_code"
            )
        else:
            recipient.confirmed_at, recipient.code_hash = now, ""
            recipient.save(update_fields=["confirmed_at", "code_hash"])
            return recipient
    raise refusal


def _code_hash(recipient: AlertRecipient, code: str) -> str:
    message = f"{recipient.pk}:{recipient.address}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def remove_recipient(*, account_id: int, recipient_id: int) -> None:
    deleted, _ = AlertRecipient.objects.filter(account_id=account_id, pk=recipient_id).delete()
    if not deleted:
        raise BillingError("That recipient is not on this account.", code="unknown_recipient")


def resend_confirmation_code(*, account_id: int, recipient_id: int, now: datetime | None = None) -> AlertRecipient:
    """A new code for a number still waiting for one; the row is locked, so a double click
    cannot leave a code in the SMS that no longer matches the stored one."""
    with transaction.atomic():
        recipient = AlertRecipient.objects.select_for_update().get(
            pk=recipient_id, account_id=account_id, kind=AlertRecipient.Kind.SMS, confirmed_at__isnull=True
        )
        send_confirmation_code(recipient=recipient, now=now)
        return recipient


# --- Usage charges (the metering services' API) ------------------------------------------

MAX_BATCH = 1000


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


@dataclass(frozen=True)
class ChargeResult:
    idempotency_key: str
    outcome: str  # "created" | "duplicate" | "error"
    charge: UsageCharge | None = None
    error_code: str = ""
    error_message: str = ""
    http_status: int = 200


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
                return _post_usage_charges(service, requests, now or timezone.now())
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _post_usage_charges(service: str, requests: list[ChargeRequest], now: datetime) -> list[ChargeResult]:
    accounts = lock_accounts(r.account_id for r in requests)
    keys = [r.idempotency_key for r in requests]
    posted = {
        c.idempotency_key: c
        for c in UsageCharge.objects.filter(service=service, idempotency_key__in=keys).select_related("ledger_entry")
    }
    results: list[ChargeResult | None] = []
    pending: dict[str, tuple[int, ChargeRequest]] = {}
    for index, request in enumerate(requests):
        key = request.idempotency_key
        earlier = posted.get(key)
        earlier_hash = earlier.request_hash if earlier else (pending[key][1].fingerprint if key in pending else None)
        if earlier_hash is not None:
            if earlier_hash != request.fingerprint:
                results.append(
                    _error(key, "idempotency_key_reused", "This idempotency key was used with a different charge.", 409)
                )
            else:
                results.append(ChargeResult(key, "duplicate", charge=earlier))  # inside this batch: filled below
            continue
        account = accounts.get(request.account_id)
        if account is None:
            results.append(_error(key, "unknown_account", f"There is no account {request.account_id}.", 404))
            continue
        if str(request.amount.currency) != account.billing_currency:
            results.append(
                _error(
                    key,
                    "currency_mismatch",
                    f"Account {account.pk} is billed in {account.billing_currency}, not {request.amount.currency}.",
                    400,
                )
            )
            continue
        pending[key] = (index, request)
        results.append(None)
    if pending:
        entries = post_ledger_entries(
            [
                NewEntry(
                    account_id=r.account_id,
                    amount=-r.amount,
                    kind=LedgerEntry.Kind.USAGE,
                    source_ref=f"charge:{service}:{r.idempotency_key}",
                    description=r.description or f"Usage ({service})",
                )
                for _, r in pending.values()
            ],
            now=now,
            locked=accounts,
        )
        charges = _insert_charges(
            [
                UsageCharge(
                    service=service,
                    idempotency_key=r.idempotency_key,
                    request_hash=r.fingerprint,
                    account_id=r.account_id,
                    amount=r.amount,
                    description=r.description,
                    ledger_entry=entry,
                    created_at=now,
                )
                for (_, r), entry in zip(pending.values(), entries, strict=True)
            ]
        )
        by_key = {c.idempotency_key: c for c in charges}
        for index, request in pending.values():
            results[index] = ChargeResult(
                request.idempotency_key, "created", charge=by_key[request.idempotency_key], http_status=201
            )
        for index, result in enumerate(results):
            if result.outcome == "duplicate" and result.charge is None:
                results[index] = ChargeResult(
                    result.idempotency_key, "duplicate", charge=by_key[result.idempotency_key]
                )
    return results


CHARGE_COLUMNS = (
    "service",
    "idempotency_key",
    "request_hash",
    "account_id",
    "amount",
    "amount_currency",
    "description",
    "ledger_entry_id",
    "created_at",
)


def _insert_charges(charges: list[UsageCharge]) -> list[UsageCharge]:
    """Store new charges from tuples, as the ledger writer stores their entries."""
    created_at = connection.ops.adapt_datetimefield_value(charges[0].created_at)
    insert_new(
        charges,
        CHARGE_COLUMNS,
        lambda c: (
            c.service,
            c.idempotency_key,
            c.request_hash,
            c.account_id,
            c.amount.amount,
            str(c.amount.currency),
            c.description,
            c.ledger_entry_id,
            created_at,
        ),
    )
    return charges


def _error(key: str, code: str, message: str, status: int) -> ChargeResult:
    return ChargeResult(key, "error", error_code=code, error_message=message, http_status=status)


# --- Service tokens ---------------------------------------------------------------------


def create_service_token(*, service: str, name: str) -> tuple[ServiceToken, str]:
    """A new token; the plain text is returned once and only its SHA-256 is stored."""
    plain = f"bc_{secrets.token_urlsafe(32)}"
    token = ServiceToken.objects.create(service=service, name=name, token_hash=hash_token(plain), prefix=plain[:10])
    return token, plain


def hash_token(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def authenticate_service(authorization: str) -> ServiceToken | None:
    """The active token named by an `Authorization: Bearer …` header, or None."""
    scheme, _, plain = authorization.partition(" ")
    if scheme.lower() != "bearer" or not plain.strip():
        return None
    token = ServiceToken.objects.filter(token_hash=hash_token(plain.strip()), revoked_at__isnull=True).first()
    if token is not None:
        ServiceToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def revoke_service_token(*, token_id: int) -> None:
    ServiceToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
