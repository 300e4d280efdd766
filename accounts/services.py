"""Every write to accounts and the ledger goes through here."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from djmoney.money import Money

from .exceptions import BillingError, CurrencyMismatch
from .models import Account, LedgerEntry, OutboundEmail

logger = logging.getLogger(__name__)
MAX_EMAIL_ATTEMPTS = 8
EMAIL_CLAIM_LEASE = timedelta(minutes=5)


@transaction.atomic
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
    """Move `amount` (positive credits, negative debits) into an account's balance.

    The only writer of Account.balance. The account row is locked first, so the
    balance_after of concurrent entries is always computed from the committed balance;
    the unique (kind, source_ref) behind it refuses a second entry for one source.
    """
    if amount.amount == 0:
        raise BillingError("A ledger entry cannot be zero.", code="zero_amount")
    account = Account.objects.select_for_update().get(pk=account_id)
    if amount.currency != account.balance.currency:
        raise CurrencyMismatch(
            f"{account} is billed in {account.balance.currency}; an entry in {amount.currency} cannot be posted."
        )
    after = account.balance + amount
    entry = LedgerEntry.objects.create(
        account=account,
        amount=amount,
        kind=kind,
        source_ref=source_ref,
        actor=actor,
        description=description[:300],
        balance_after=after,
        created_at=now or timezone.now(),
    )
    Account.objects.filter(pk=account.pk).update(balance=after.amount)
    return entry


def ledger_mismatches() -> list[tuple[Account, Money]]:
    """Accounts whose cached balance differs from the sum of their entries, with that sum."""
    sums = dict(
        LedgerEntry.objects.values_list("account_id").annotate(total=Sum("amount")).values_list("account_id", "total")
    )
    mismatches = []
    for account in Account.objects.order_by("pk").iterator(chunk_size=2000):
        total = Money(sums.get(account.pk) or 0, account.balance.currency)
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

    email, created = OutboundEmail.objects.get_or_create(
        dedupe_key=dedupe_key, defaults={"to": to, "subject": subject, "body": body, "account": account}
    )
    if created:
        transaction.on_commit(lambda: _publish(send_email, email.pk))
    return email


def _publish(task, *args) -> None:
    """Hand a task to the broker; if the broker is away, the periodic resend catches up."""
    try:
        task.apply_async(args=args, retry=False)
    except Exception as exc:  # any broker failure: the outbox row is the durable record
        logger.warning("Could not publish %s%s, the periodic resend will: %r", task.name, args, exc)


def deliver_email(*, email_id: int, now: datetime | None = None) -> OutboundEmail | None:
    """Send one queued e-mail at most once; safe to call from retried or duplicated tasks.

    A worker claims the row (PENDING -> SENDING) under a lock and sends outside any
    transaction; another worker or the sweep skips a fresh claim. A claim older than
    EMAIL_CLAIM_LEASE is a worker that died mid-send: it is taken over, which is the
    only window in which an e-mail can go out twice.
    """
    now = now or timezone.now()
    with transaction.atomic():
        email = OutboundEmail.objects.select_for_update(skip_locked=True).filter(pk=email_id).first()
        if email is None or not _claimable(email, now):
            return email
        email.status, email.claimed_at, email.attempts = OutboundEmail.Status.SENDING, now, email.attempts + 1
        email.save(update_fields=["status", "claimed_at", "attempts"])
    try:
        send_mail(email.subject, email.body, settings.DEFAULT_FROM_EMAIL, [email.to])
    except Exception as exc:  # SMTP and network errors alike: recorded, retried later
        email.last_error = repr(exc)[:2000]
        failed = email.attempts >= MAX_EMAIL_ATTEMPTS
        email.status = OutboundEmail.Status.FAILED if failed else OutboundEmail.Status.PENDING
        email.save(update_fields=["last_error", "status"])
        raise
    email.status, email.sent_at, email.last_error = OutboundEmail.Status.SENT, timezone.now(), ""
    email.save(update_fields=["status", "sent_at", "last_error"])
    return email


def _claimable(email: OutboundEmail, now: datetime) -> bool:
    if email.status == OutboundEmail.Status.PENDING:
        return True
    return email.status == OutboundEmail.Status.SENDING and email.claimed_at < now - EMAIL_CLAIM_LEASE


def pending_email_ids(*, older_than_seconds: int = 60, now: datetime | None = None) -> list[int]:
    """E-mails whose task seems lost: pending a while after queueing, or claimed by a dead worker."""
    now = now or timezone.now()
    lost = Q(status=OutboundEmail.Status.PENDING, created_at__lt=now - timedelta(seconds=older_than_seconds)) | Q(
        status=OutboundEmail.Status.SENDING, claimed_at__lt=now - EMAIL_CLAIM_LEASE
    )
    return list(OutboundEmail.objects.filter(lost).order_by("created_at").values_list("pk", flat=True)[:500])
