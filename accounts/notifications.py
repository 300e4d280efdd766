"""E-mail and SMS through the outbox: recorded in the caller's transaction, sent after commit.

A rollback leaves no row, so nothing is sent; a broker outage leaves a PENDING row that
the periodic resend picks up (accounts.outbox delivers each row at most once per claim).
Message text built from a template is rendered here, so services never render templates.
"""

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage, get_connection, send_mail
from django.db import IntegrityError, transaction
from django.db.models import Case, Value, When
from django.template.loader import render_to_string
from django.utils import timezone, translation

from billing_center.db import insert_new
from billing_center.privacy import mask_phone

from . import outbox
from .language import reader_zone
from .models import Account, OutboundEmail, OutboundSms, User
from .sms.base import SmsError
from .sms.base import get_backend as get_sms_backend
from .sms.segments import fit_segments

logger = logging.getLogger(__name__)
MAX_EMAIL_ATTEMPTS = 8
MAX_SMS_ATTEMPTS = 5


class BrokerBreaker:
    """After a failed publish this process stops trying for a while: with the broker down,
    each attempt costs a connection timeout, and a request must not pay it over and over.
    What is not published meanwhile is found by the periodic sweeps (outbox rows, alerts)."""

    def __init__(self, retry_after_seconds: float = 30):
        self.retry_after_seconds = retry_after_seconds
        self._open_until = 0.0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self, *, for_seconds: float | None = None) -> None:
        """Stop publishing for retry_after_seconds (or for_seconds: a bench with no broker)."""
        with self._lock:
            self._open_until = time.monotonic() + (self.retry_after_seconds if for_seconds is None else for_seconds)

    def reset(self) -> None:
        """Try the broker again on the next publish (tests, and an operator's shell)."""
        with self._lock:
            self._open_until = 0.0


broker_breaker = BrokerBreaker()


def publish(task, *args, countdown: float = 0) -> None:
    """Hand a task to the broker (to run after `countdown` seconds); if the broker is away, the
    periodic sweep catches up."""
    if broker_breaker.is_open:
        logger.info("Broker recently unreachable; %s%s left to the periodic sweep", task.name, args)
        return
    try:
        task.apply_async(args=args, retry=False, countdown=countdown or None)
    except Exception as exc:  # any broker failure: the outbox row is the durable record
        broker_breaker.trip()
        logger.warning("Could not publish %s%s, the periodic resend will: %r", task.name, args, exc)


def publish_after_commit(task, *args) -> None:
    transaction.on_commit(lambda: publish(task, *args))


def language_of(recipient) -> str:
    """A user's own language (User.language), else their browser's at their last sign-in (User.browser_language);
    for an alert recipient or an account, the language chosen by the account's first user who chose one, else
    the browser's of its first user who signed in; '' when none is known."""
    if recipient is None:
        return ""
    if isinstance(recipient, User):
        return recipient.language or recipient.browser_language
    account_id = recipient.pk if isinstance(recipient, Account) else getattr(recipient, "account_id", None)
    if account_id is None:
        return getattr(recipient, "language", "") or ""
    known = User.objects.filter(account_id=account_id).exclude(language="", browser_language="")
    chosen_first = Case(When(language="", then=Value(1)), default=Value(0))
    spoken = known.order_by(chosen_first, "pk").values_list("language", "browser_language").first()
    return (spoken[0] or spoken[1]) if spoken else ""


@contextmanager
def recipient_language(recipient=None):
    """Build a message for `recipient` (a user, an alert recipient, an account) in their language and, for a user,
    their time zone (accounts.language.reader_zone; the site's for others): `with recipient_language(user): subject
    = gettext(...)`. Someone without a language of their own gets the site's default. The zone had been whichever
    was active: a receipt credited by the worker read UTC, one credited on the payer's return page their zone."""
    zone = reader_zone(recipient) if isinstance(recipient, User) else ZoneInfo(settings.TIME_ZONE)
    with translation.override(language_of(recipient) or settings.LANGUAGE_CODE), timezone.override(zone):
        yield


def queue_email(*, dedupe_key: str, to: str, subject: str, body: str, account: Account | None = None, alert=None):
    """Record an e-mail in the caller's transaction and hand it to a worker after commit.

    A second call with the same key (a retried credit) queues nothing new.
    """
    from .tasks import send_email

    return _queue_message(
        OutboundEmail,
        send_email,
        dedupe_key=dedupe_key,
        to=to,
        subject=subject,
        body=body,
        account=account,
        alert=alert,
    )


def queue_templated_email(
    *, dedupe_key: str, to: str, subject: str, template: str, context: dict, account: Account | None = None
):
    """queue_email with the body rendered from a text template."""
    body = render_to_string(template, context)
    return queue_email(dedupe_key=dedupe_key, to=to, subject=subject, body=body, account=account)


@dataclass(frozen=True)
class TemplatedEmail:
    """One e-mail for queue_templated_emails."""

    dedupe_key: str
    to: str
    subject: str
    template: str
    context: dict
    account: Account | None = None


def queue_templated_emails(emails: list[TemplatedEmail]) -> None:
    """queue_templated_email for many at once (a statement's credits): one insert, and one task
    for them all published after commit. If a key was queued already, each goes in on its own."""
    from .tasks import send_email, send_emails

    now = timezone.now()  # created_at is auto_now_add, which insert_new does not run
    rows = [
        OutboundEmail(
            created_at=now,
            dedupe_key=email.dedupe_key,
            to=email.to,
            subject=email.subject,
            body=render_to_string(email.template, email.context),
            account=email.account,
        )
        for email in emails
    ]
    if not rows:
        return
    try:
        with transaction.atomic():
            insert_new(rows, key=("dedupe_key",))
    except IntegrityError:
        for row in rows:
            _queue_message(
                OutboundEmail, send_email, dedupe_key=row.dedupe_key, to=row.to, subject=row.subject, body=row.body,
                account=row.account,
            )  # fmt: skip
        return
    publish_after_commit(send_emails, [row.pk for row in rows])


def queue_sms(*, dedupe_key: str, to: str, text: str, account: Account | None = None, alert=None) -> OutboundSms:
    """Record an SMS in the caller's transaction and hand it to a worker after commit. A text longer
    than MAX_SEGMENTS segments (3 × 153 GSM-7 characters, 3 × 67 Chinese ones) is cut at the edge
    of the last one (accounts.sms.segments), never in the middle of a character."""
    from .tasks import send_sms

    return _queue_message(
        OutboundSms, send_sms, dedupe_key=dedupe_key, to=to, text=fit_segments(text), account=account, alert=alert
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
    publish_after_commit(task, message.pk)
    return message


def deliver_email(*, email_id: int, now: datetime | None = None) -> OutboundEmail | None:
    """Send one queued e-mail at most once; safe to call from retried or duplicated tasks."""

    def send(email: OutboundEmail) -> None:
        send_mail(email.subject, email.body, settings.DEFAULT_FROM_EMAIL, [email.to])

    return outbox.deliver(OutboundEmail, email_id, send, max_attempts=MAX_EMAIL_ATTEMPTS, now=now)


def deliver_emails(email_ids: list[int], *, now: datetime | None = None) -> int:
    """Send many queued e-mails (a batch's receipts, the sweep's finds), each at most once per claim
    (accounts.outbox.deliver_many), over one connection to the mail server; how many were sent.
    A server that cannot be reached fails each e-mail's attempt, as deliver_email does."""
    connection = get_connection()

    def send(email: OutboundEmail) -> None:
        connection.open()  # once: a no-op while the connection is open
        connection.send_messages([EmailMessage(email.subject, email.body, settings.DEFAULT_FROM_EMAIL, [email.to])])

    try:
        return outbox.deliver_many(OutboundEmail, email_ids, send, max_attempts=MAX_EMAIL_ATTEMPTS, now=now)
    finally:
        connection.close()


def pending_email_ids(*, older_than_seconds: int = 60, now: datetime | None = None) -> list[int]:
    """E-mails whose task seems lost: pending a while after queueing, or claimed by a dead worker."""
    return outbox.lost_ids(OutboundEmail, older_than_seconds=older_than_seconds, now=now)


def deliver_sms(*, sms_id: int, now: datetime | None = None) -> OutboundSms | None:
    """Send one queued SMS at most once per claim (see accounts.outbox)."""
    return outbox.deliver(OutboundSms, sms_id, _send_sms, max_attempts=MAX_SMS_ATTEMPTS, now=now)


def deliver_many_sms(sms_ids: list[int], *, now: datetime | None = None) -> int:
    """Send many queued SMS (the sweep's finds), each at most once per claim; how many were sent."""
    return outbox.deliver_many(OutboundSms, sms_ids, _send_sms, max_attempts=MAX_SMS_ATTEMPTS, now=now)


def _send_sms(sms: OutboundSms) -> str:
    try:
        return get_sms_backend().send(sms.to, sms.text, idempotency_key=sms.dedupe_key)
    except SmsError as exc:
        # Providers quote the number in their errors; what we keep shows it masked.
        message = str(exc).replace(sms.to, mask_phone(sms.to))
        if not exc.retryable:
            raise outbox.PermanentFailure(message) from None
        raise SmsError(message, retryable=True) from None


def pending_sms_ids(*, older_than_seconds: int = 60, now: datetime | None = None) -> list[int]:
    return outbox.lost_ids(OutboundSms, older_than_seconds=older_than_seconds, now=now)
