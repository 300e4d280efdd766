"""Delivering an endpoint's events: in order, signed, with backoff, never to our own network.

One worker at a time delivers for an endpoint (a lease on the endpoint row, renewed before
each attempt), oldest delivery first; a failed one waits for its retry and the later ones wait
behind it, so a receiver sees an account's events in the order they happened. A delivery whose
retries are used up (about three days) has failed: the endpoint is disabled and its owner told.

The request is signed as the Standard Webhooks specification says (`webhook-id`,
`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`, one signature per secret
while a secret is being rotated), with the specification's own library. It goes to the address
that was checked (addresses.check_url) with short timeouts, no redirects followed, at most
WEBHOOK_RESPONSE_LIMIT bytes of the answer read, and the whole attempt cut at WEBHOOK_ATTEMPT_SECONDS
(less than the lease, so no second worker sends while one still waits).
"""

import json
import logging
import socket
import ssl
import threading
import time
from datetime import datetime, timedelta
from http.client import HTTPException

import certifi
import urllib3
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from standardwebhooks.webhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection

from accounts.descriptions import Description, describe, known_messages, parts_of
from money.errors import Invalid

from .addresses import Target, check_url
from .models import DeliveryAttempt, EventDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)
# What the log and the endpoint say, stored with their parts: each reader sees them in their language.
NOT_SENT = gettext_noop("Not sent: %(reason)s")
NO_ANSWER = gettext_noop("No answer within the timeout.")
NO_COMPLETE_ANSWER = gettext_noop("No complete answer within %(seconds)s seconds.")
TLS_UNVERIFIED = gettext_noop("The TLS certificate could not be verified.")
NOT_CONNECTED = gettext_noop("Could not connect: %(error)s")
RETRIES_USED_UP = gettext_noop("Every attempt to deliver an event failed (%(attempts)s in all, over %(hours)s hours).")
known_messages(NOT_SENT, NO_ANSWER, NO_COMPLETE_ANSWER, TLS_UNVERIFIED, NOT_CONNECTED, RETRIES_USED_UP)
LEASE = timedelta(seconds=60)
USER_AGENT = "BillingCenter-Webhooks/1"


def deliver_endpoint(endpoint_id: int, *, now: datetime | None = None) -> int:
    """Deliver what is due for one endpoint, oldest first, until one fails or nothing is due.
    Returns how many were delivered; another worker holding the endpoint makes this a no-op."""
    if not _claim(endpoint_id):
        return 0
    delivered = 0
    try:
        for _n in range(settings.WEBHOOK_DELIVERIES_PER_RUN):
            delivery = _next_due(endpoint_id, now or timezone.now())
            if delivery is None or not _attempt(delivery):
                break
            delivered += 1
    finally:
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(claimed_until=None)
    _wake_when_due(endpoint_id)
    return delivered


def due_endpoint_ids(now: datetime | None = None) -> list[int]:
    """Enabled endpoints with a delivery due and no worker on them (the beat's sweep)."""
    now = now or timezone.now()
    return list(
        WebhookEndpoint.objects.filter(enabled=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .filter(deliveries__status=EventDelivery.Status.PENDING, deliveries__next_attempt_at__lte=now)
        .values_list("pk", flat=True)
        .distinct()
        .order_by("pk")
    )


def signatures(endpoint: WebhookEndpoint, msg_id: str, at: datetime, body: str) -> str:
    """The webhook-signature header: the current secret's, and the previous one's while it overlaps."""
    secrets = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > at:
        secrets.append(endpoint.previous_secret)
    return " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)


def _claim(endpoint_id: int) -> bool:
    now = timezone.now()
    return bool(
        WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + LEASE)
    )


def _next_due(endpoint_id: int, now: datetime) -> EventDelivery | None:
    """The pending delivery of the oldest event, if it is due; a later one never overtakes it."""
    oldest = (
        EventDelivery.objects.filter(endpoint_id=endpoint_id, status=EventDelivery.Status.PENDING)
        .select_related("event", "endpoint")
        .order_by("event_id")
        .first()
    )
    if oldest is None or oldest.next_attempt_at > max(now, timezone.now()) or not oldest.endpoint.enabled:
        return None
    return oldest


def _attempt(delivery: EventDelivery) -> bool:
    """Send one delivery once and record what happened; True when the endpoint took it (2xx)."""
    endpoint = delivery.endpoint
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(claimed_until=timezone.now() + LEASE)
    body = json.dumps(delivery.event.payload, separators=(",", ":"), sort_keys=True)
    started, at = time.monotonic(), timezone.now()
    status, excerpt, error = None, "", ""
    try:
        target = check_url(endpoint.url)
        status, excerpt = _post(target, body, _headers(endpoint, delivery.event.event_id, at, body))
    except Invalid as exc:
        error = describe(NOT_SENT, reason=exc.message)
    except Unanswered as exc:
        error = exc.reason
    latency = int((time.monotonic() - started) * 1000)
    succeeded = status is not None and 200 <= status < 300
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            at=at,
            status_code=status,
            latency_ms=latency,
            response_excerpt=excerpt[:500],
            error=error[:300],
            error_parts=parts_of(error),
        )
        delivery.attempts += 1
        if succeeded:
            delivery.status, delivery.delivered_at = EventDelivery.Status.DELIVERED, timezone.now()
        else:
            _failed(delivery, at)
        delivery.save(update_fields=["attempts", "status", "delivered_at", "next_attempt_at", "first_failed_at"])
    return succeeded


def _headers(endpoint: WebhookEndpoint, msg_id: str, at: datetime, body: str) -> dict:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures(endpoint, msg_id, at, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


class Unanswered(Exception):
    """No usable answer from the receiver; `reason` says why, in words for the endpoint's page."""

    def __init__(self, reason: Description):
        super().__init__(reason)
        self.reason = reason


def _post(target: Target, body: str, headers: dict) -> tuple[int, str]:
    """POST to the checked address (Host and certificate name kept), no redirect followed, and read a bounded
    answer, all within WEBHOOK_ATTEMPT_SECONDS. The connect and read timeouts bound each wait for a byte, so a
    receiver answering a byte at a time had held a worker for an hour, and past the endpoint's lease another
    worker sent the same event again; at the deadline a watchdog shuts the socket, which ends any wait."""
    timeout = settings.WEBHOOK_CONNECT_TIMEOUT  # connecting and sending; then WEBHOOK_READ_TIMEOUT a byte
    if target.scheme == "https":
        connection = HTTPSConnection(
            target.address,
            target.port,
            timeout=timeout,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        connection = HTTPConnection(target.address, target.port, timeout=timeout)
    host = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    cut = threading.Event()
    watchdog = threading.Timer(settings.WEBHOOK_ATTEMPT_SECONDS, _cut, [connection, cut])
    watchdog.start()
    try:
        connection.request(
            "POST", target.path, body=body.encode(), headers={**headers, "host": host}, preload_content=False
        )
        connection.sock.settimeout(settings.WEBHOOK_READ_TIMEOUT)
        response = connection.getresponse()
        answer = response.read(settings.WEBHOOK_RESPONSE_LIMIT, decode_content=False)
        return response.status, answer.decode("utf-8", "replace")
    except Exception as exc:
        if cut.is_set():
            seconds = f"{settings.WEBHOOK_ATTEMPT_SECONDS:g}"
            raise Unanswered(describe(NO_COMPLETE_ANSWER, seconds=seconds)) from exc
        if isinstance(exc, (TimeoutError, urllib3.exceptions.TimeoutError)):
            raise Unanswered(describe(NO_ANSWER)) from exc
        if isinstance(exc, (ssl.SSLError, urllib3.exceptions.SSLError)):
            raise Unanswered(describe(TLS_UNVERIFIED)) from exc
        if isinstance(exc, (OSError, HTTPException, urllib3.exceptions.HTTPError)):
            raise Unanswered(describe(NOT_CONNECTED, error=type(exc).__name__)) from exc
        raise
    finally:
        watchdog.cancel()
        connection.close()


def _cut(connection, cut: threading.Event) -> None:
    """The watchdog: shut the connection's socket (the plain socket's own shutdown, under any TLS layer), so
    that a read or write waiting on it in the sending thread returns at once."""
    cut.set()
    sock = connection.sock
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


def _failed(delivery: EventDelivery, at: datetime) -> None:
    delays = settings.WEBHOOK_RETRY_DELAYS
    delivery.first_failed_at = delivery.first_failed_at or at
    if delivery.attempts > len(delays):
        delivery.status = EventDelivery.Status.FAILED
        _disable(delivery.endpoint, at, attempts=delivery.attempts, since=delivery.first_failed_at)
    else:
        delivery.next_attempt_at = at + timedelta(seconds=delays[delivery.attempts - 1])


def _disable(endpoint: WebhookEndpoint, at: datetime, *, attempts: int, since: datetime) -> None:
    """Retries used up: the endpoint stops, and its owner hears why (through the outbox)."""
    from accounts.notifications import queue_templated_email, recipient_language

    reason = describe(RETRIES_USED_UP, attempts=attempts, hours=int((at - since).total_seconds() // 3600))
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason=reason, disabled_reason_parts=parts_of(reason)
    )
    owners = list(endpoint.account.users.filter(is_active=True)) if endpoint.account else [endpoint.created_by]
    url = settings.SITE_URL + (
        reverse("webhooks:detail", args=[endpoint.pk]) if endpoint.account else reverse("admin:index")
    )
    for owner in [user for user in owners if user and user.email]:
        with recipient_language(owner):
            queue_templated_email(
                dedupe_key=f"webhook-endpoint:{endpoint.pk}:disabled:{at:%Y%m%d%H%M%S}:{owner.pk}",
                to=owner.email,
                subject=_("Your webhook endpoint was disabled"),
                template="webhooks/email_disabled.txt",
                context={"endpoint": endpoint, "user": owner, "url": url},
                account=endpoint.account,
            )
    logger.warning("Webhook endpoint %s disabled: retries used up", endpoint.pk)


def _wake_when_due(endpoint_id: int) -> None:
    """Hand the endpoint on: at once when more is due, or when its next retry is."""
    from .events import wake

    oldest = (
        EventDelivery.objects.filter(
            endpoint_id=endpoint_id, endpoint__enabled=True, status=EventDelivery.Status.PENDING
        )
        .order_by("event_id")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if oldest is not None:
        wake([endpoint_id], countdown=max(0.0, (oldest - timezone.now()).total_seconds()))
