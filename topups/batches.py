"""Crediting stored deliveries in batches: what a worker does after intake (topups.deliveries).

A batch claims up to BATCH_SIZE waiting deliveries (SELECT … FOR UPDATE SKIP LOCKED, in id
order: two workers split the work, and a redelivered task message finds nothing left). In one
transaction it locks the top-ups they name (id order), decides each notice by the same rules a
notice applied alone follows (topups.notices.decide), posts the plain credits as one posting
(accounts.ledger.credit_deposits → the accounts locked once, id order), and writes the top-ups,
their history, the deliveries and the receipt e-mails in bulk.

Lock order: delivery, top-up, account — the order a delivery applied alone takes too, and the
return page's top-up then account.

Not taken together: refunds, disputes and cards, and repayments — a postpaid account's payments, whatever
they were started as (they settle bills) —; those are applied one by one after the batch commits
(topups.deliveries.apply_delivery). A batch that fails as a whole — a source credited meanwhile, or an
account turned postpaid since it was read, makes credit_deposits refuse all of it — is rolled back and
each of its deliveries applied alone, so one bad event cannot hold the others.
"""

import logging
from collections import Counter, defaultdict
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from accounts.ledger import NewEntry, credit_deposits
from accounts.models import LedgerEntry
from accounts.notifications import language_of, queue_templated_emails
from billing_center.db import update_in_bulk
from money.parsing import uuid_or_none

from .deliveries import apply_delivery, notice_of
from .gateways.base import PaymentNotice
from .models import TopUp, WebhookDelivery
from .notices import (
    CREDITED_FIELDS,
    credit_description,
    credited_email,
    decide,
    keep_payment_intent,
    mark_closed,
    mark_credited,
    mark_flagged,
)
from .wake import wake_peer, woken

logger = logging.getLogger(__name__)
Verdict = WebhookDelivery.Verdict
BATCH_SIZE = 200
TOPUP_FIELDS = [*CREDITED_FIELDS, "needs_review", "payment_intent_id"]
DELIVERY_FIELDS = ["verdict", "topup", "error", "processed_at"]


def apply_deliveries(*, batch_size: int = BATCH_SIZE, now: datetime | None = None) -> dict[str, int]:
    """The worker's task: apply waiting deliveries, a batch at a time, until a batch comes back
    short. Counts by verdict.

    The wake flag is cleared before the first claim, so a delivery stored from then on wakes
    another task; a full batch wakes a peer, so every worker drains a backlog (topups.wake)."""
    woken()
    verdicts: Counter = Counter()
    while True:
        claimed, applied, alone = apply_batch(batch_size=batch_size, now=now)
        if claimed == batch_size:
            wake_peer()
        verdicts.update(applied)
        for delivery_id in alone:
            delivery = apply_delivery(delivery_id=delivery_id, now=now)
            verdicts[delivery.verdict if delivery else "skipped"] += 1
        if claimed < batch_size:
            return dict(verdicts)


def apply_batch(*, batch_size: int = BATCH_SIZE, now: datetime | None = None) -> tuple[int, Counter, list[int]]:
    """One batch: how many deliveries it claimed, the verdicts it applied, and the ids to apply
    one by one (the batch's exceptions; all of them if the batch failed)."""
    now = now or timezone.now()
    claimed: list[WebhookDelivery] = []
    try:
        with transaction.atomic():
            claimed = list(
                WebhookDelivery.objects.select_for_update(skip_locked=True)
                .filter(verdict=Verdict.RECEIVED)
                .order_by("pk")[:batch_size]
            )
            applied, alone = _apply_together(claimed, now=now)
    except Exception:
        if not claimed:
            raise  # the claim itself failed (the database is away): the sweep publishes again
        logger.warning("A batch of %s deliveries failed; applying each alone", len(claimed), exc_info=True)
        return len(claimed), Counter(), [delivery.pk for delivery in claimed]
    return len(claimed), applied, alone


def _apply_together(claimed: list[WebhookDelivery], *, now: datetime) -> tuple[Counter, list[int]]:
    """Decide and apply the plain payment notices among the locked deliveries; the others' ids."""
    notices: dict[int, PaymentNotice] = {}
    alone: list[int] = []
    for delivery in claimed:
        try:
            notice = notice_of(delivery)
        except Exception:  # unreadable now, or its gateway switched off: alone, it keeps its error
            alone.append(delivery.pk)
            continue
        if isinstance(notice, PaymentNotice):
            notices[delivery.pk] = notice
        else:
            alone.append(delivery.pk)
    topups = _lock_topups(notices.values())
    done: list[WebhookDelivery] = []
    touched: dict[int, TopUp] = {}
    credited: list[TopUp] = []
    for delivery in claimed:
        notice = notices.get(delivery.pk)
        if notice is None:
            continue
        topup = topups.get(uuid_or_none(notice.reference)) if notice.reference else None
        if topup is not None and topup.gateway != delivery.gateway:
            topup = None  # another gateway's reference: not ours to apply
        if topup is not None and (topup.is_repayment or topup.is_automatic or topup.account.is_postpaid):
            alone.append(delivery.pk)  # settles bills, or counts an auto top-up's outcome: one at a time
            continue
        if topup is not None and keep_payment_intent(topup, notice):
            touched[topup.pk] = topup
        decision = decide(topup, notice)
        if decision.verdict == Verdict.CREDITED:
            mark_credited(topup, now=now)
            credited.append(topup)
        elif decision.verdict == Verdict.FLAGGED:
            mark_flagged(topup, notice, decision.problem, now=now)
        elif decision.verdict == Verdict.CLOSED:
            mark_closed(topup, status=decision.close_as, reason=decision.reason, now=now)
        if topup is not None and decision.verdict in (Verdict.CREDITED, Verdict.FLAGGED, Verdict.CLOSED):
            touched[topup.pk] = topup
        delivery.verdict, delivery.topup, delivery.error, delivery.processed_at = decision.verdict, topup, "", now
        done.append(delivery)
    _credit(credited, now=now)
    changed = list(touched.values())
    update_in_bulk(changed, TOPUP_FIELDS)
    if changed:
        TopUp.history.bulk_history_create(changed, update=True, default_date=now)
    update_in_bulk(done, DELIVERY_FIELDS)
    _queue_receipts(credited)
    return Counter(delivery.verdict for delivery in done), alone


def _lock_topups(notices) -> dict:
    """The top-ups the notices name, locked in id order, with their payer and account."""
    references = {uuid_or_none(notice.reference) for notice in notices if notice.reference} - {None}
    if not references:
        return {}
    rows = (
        TopUp.objects.select_for_update(of=("self",))
        .select_related("created_by", "account")
        .filter(public_id__in=references)
        .order_by("pk")
    )
    return {topup.public_id: topup for topup in rows}


def _credit(topups: list[TopUp], *, now: datetime) -> None:
    """Post the credits as one posting; credit_deposits refuses all of them (Conflict) if any
    source was credited already, and the batch falls back to one delivery at a time."""
    if not topups:
        return
    entries = credit_deposits(
        [
            NewEntry(
                topup.account_id,
                topup.credit_amount,
                LedgerEntry.Kind.ONLINE_TOPUP,
                topup.ledger_source_ref,
                topup.created_by,
                credit_description(topup, repays_bills=False),  # credit_deposits refuses a repayment
            )
            for topup in topups
        ],
        now=now,
    )
    for topup, entry in zip(topups, entries, strict=True):
        topup.ledger_entry = entry


def _queue_receipts(topups: list[TopUp]) -> None:
    """Each payer's receipt through the outbox, in this transaction: one insert per language."""
    by_language: dict[str, list] = defaultdict(list)
    for topup in topups:
        email = credited_email(topup)
        if email:
            by_language[language_of(topup.created_by) or settings.LANGUAGE_CODE].append(email)
    for language, emails in by_language.items():
        with translation.override(language):
            queue_templated_emails(emails)
