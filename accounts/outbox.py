"""Delivering outbox rows (e-mails, SMS) at most once per claim, whoever asks.

A worker claims a row (PENDING -> SENDING) under a lock and sends outside any transaction;
another worker or the sweep skips a fresh claim. A claim older than the lease
(OUTBOX_CLAIM_LEASE_SECONDS) is a worker that died mid-send: it is taken over, which is the
only window in which a message can go out twice. The outcome of what was sent is written even
when the database blinks meanwhile (a restart, a failover, a dropped connection): retried until
the lease is nearly over, so a row that went out is not left "sending" to be taken over and sent
again.
"""

import itertools
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from billing_center.db import update_in_bulk

from .models import OutboxMessage

logger = logging.getLogger(__name__)


def claim_lease() -> timedelta:
    return timedelta(seconds=settings.OUTBOX_CLAIM_LEASE_SECONDS)


class PermanentFailure(Exception):
    """Sending cannot succeed by retrying (an invalid number, a refused address)."""


class ClaimedElsewhere(Exception):
    """Another worker holds a fresh claim on the row: it may be sending, or it may have died.

    The task asks again once the lease has run out instead of reporting success: a task
    requeued after its worker was killed must still get the message out.
    """

    def __init__(self, retry_in: float):
        super().__init__(f"claimed by another worker; retry in {retry_in:.0f} s")
        self.retry_in = retry_in


def deliver(model: type[OutboxMessage], pk: int, send: Callable, *, max_attempts: int, now: datetime | None = None):
    """Claim row `pk` of `model` and send it with send(row) -> provider id or None.

    A failed send leaves the row PENDING for a retry, or FAILED after `max_attempts` or on
    a PermanentFailure; the exception is re-raised so the task can schedule its retry.
    """
    now = now or timezone.now()
    with transaction.atomic():
        row = model.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
        if row is not None and row.status == model.Status.SENDING and not _claimable(row, now):
            raise ClaimedElsewhere(retry_in=max(1.0, (row.claimed_at + claim_lease() - now).total_seconds()))
        if row is None or not _claimable(row, now):
            return row  # being claimed right now, or already sent or failed
        _claim(row, now)
        row.save(update_fields=CLAIM_FIELDS)
    claimed_at = time.monotonic()
    error = _attempt(row, send, max_attempts=max_attempts)
    _write_outcomes([row], _outcome_fields(model), until=claimed_at + claim_lease().total_seconds() * 0.9)
    if error is not None:
        raise error
    return row


def deliver_many(
    model: type[OutboxMessage], pks: list[int], send: Callable, *, max_attempts: int, now: datetime | None = None
) -> int:
    """deliver() for many rows at once (a batch's receipts, a sweep's finds); how many were sent.

    The claimable rows among `pks` are claimed in one transaction, sent one by one outside it,
    and their outcomes written together. A row another worker holds, or one already sent or
    failed, is left alone. A row is only sent while its claim is younger than half the lease:
    past that the rows not yet sent are handed back and claimed afresh, so a slow server never
    lets a claim expire under a send in progress (the sweep would take it over and send again).
    A worker killed mid-way leaves at most half a lease's sends to go out a second time."""
    sent = 0
    while pks:
        sent_now, pks = _deliver_claimed(model, pks, send, max_attempts=max_attempts, now=now)
        sent += sent_now
        now = None  # a fresh claim for the rows handed back
    return sent


def _deliver_claimed(model, pks: list[int], send: Callable, *, max_attempts: int, now: datetime | None):
    """Claim what can be claimed among `pks` and send it until half the lease has gone: (how many
    were sent, the ids handed back unsent)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = model.objects.select_for_update(skip_locked=True).filter(pk__in=pks).order_by("pk")
        claimed = [row for row in locked if _claimable(row, now)]
        for row in claimed:
            _claim(row, now)
        update_in_bulk(claimed, CLAIM_FIELDS)
    claimed_at = time.monotonic()
    sending_until = claimed_at + claim_lease().total_seconds() / 2
    done, handed_back = [], []
    for row in claimed:
        if time.monotonic() > sending_until:
            row.status, row.attempts = model.Status.PENDING, row.attempts - 1  # not tried: no attempt spent
            handed_back.append(row)
            continue
        error = _attempt(row, send, max_attempts=max_attempts)
        if error is not None:
            logger.warning("Sending %s %s failed (%r); the resend tries again", model.__name__, row.pk, error)
        done.append(row)
    _write_outcomes(done + handed_back, _outcome_fields(model), until=claimed_at + claim_lease().total_seconds() * 0.9)
    return sum(row.status == model.Status.SENT for row in done), [row.pk for row in handed_back]


CLAIM_FIELDS = ["status", "claimed_at", "attempts"]
OUTCOME_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0)  # then every 2 s


def _write_outcomes(rows: list[OutboxMessage], fields: list[str], *, until: float) -> None:
    """Write the claimed rows' outcomes, on a fresh connection again while the database is away, until
    `until` (monotonic): then the error is raised and the lease's takeover is the way left."""
    for attempt in itertools.count():
        try:
            update_in_bulk(rows, fields)
            return
        except (OperationalError, InterfaceError) as exc:
            delay = OUTCOME_RETRY_SECONDS[min(attempt, len(OUTCOME_RETRY_SECONDS) - 1)]
            if connection.in_atomic_block or time.monotonic() + delay > until:
                raise
            logger.warning("Writing %s outcomes failed (%r); retrying on a new connection", len(rows), exc)
            connection.close()
            time.sleep(delay)


def _claim(row: OutboxMessage, now: datetime) -> None:
    row.status, row.claimed_at, row.attempts = row.Status.SENDING, now, row.attempts + 1


def _attempt(row: OutboxMessage, send: Callable, *, max_attempts: int) -> Exception | None:
    """Send one claimed row with send(row) -> provider id or None, and set the outcome on it (not
    saved): SENT; or PENDING for a retry, FAILED after `max_attempts` or on a PermanentFailure,
    with the error kept. The exception, if the send failed."""
    try:
        provider_id = send(row)
    except Exception as exc:  # provider and network errors alike: recorded, retried later
        row.last_error = repr(exc)[:2000]
        failed = isinstance(exc, PermanentFailure) or row.attempts >= max_attempts
        row.status = row.Status.FAILED if failed else row.Status.PENDING
        return exc
    row.status, row.sent_at, row.last_error = row.Status.SENT, timezone.now(), ""
    if provider_id and hasattr(row, "provider_message_id"):
        row.provider_message_id = provider_id[:64]
    return None


def _outcome_fields(model: type[OutboxMessage]) -> list[str]:
    """What _attempt (and a hand-back) may change on a claimed row."""
    fields = ["status", "attempts", "sent_at", "last_error"]
    return [*fields, "provider_message_id"] if hasattr(model, "provider_message_id") else fields


def _claimable(row: OutboxMessage, now: datetime) -> bool:
    if row.status == row.Status.PENDING:
        return True
    return row.status == row.Status.SENDING and row.claimed_at < now - claim_lease()


def lost_ids(model: type[OutboxMessage], *, older_than_seconds: int = 60, now: datetime | None = None) -> list[int]:
    """Rows whose task seems lost: pending a while after queueing, or claimed by a dead worker."""
    now = now or timezone.now()
    Status = model.Status
    lost = Q(status=Status.PENDING, created_at__lt=now - timedelta(seconds=older_than_seconds)) | Q(
        status=Status.SENDING, claimed_at__lt=now - claim_lease()
    )
    return list(model.objects.filter(lost).order_by("created_at").values_list("pk", flat=True)[:500])
