"""Registering and running endpoints: a customer's for their own account, an operator's for all.

The secret is made here and handed back once (the page shows it once); rotating it keeps the
old one signing beside the new one for WEBHOOK_SECRET_OVERLAP_HOURS, so a receiver can switch
without losing a delivery. Replaying sends an event again, or every event of a time range.
"""

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account
from money.errors import Invalid, Refused

from .addresses import check_url
from .events import EVENT_TYPES, wake
from .models import EventDelivery, WebhookEndpoint, WebhookEvent


@dataclass(frozen=True)
class Registered:
    endpoint: WebhookEndpoint
    secret: str  # shown to its owner once


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def check_room(account) -> None:
    """Refused if the account has as many endpoints as it may (register_endpoint asks again under its lock; a
    form asks first, to say so beside its fields)."""
    if WebhookEndpoint.objects.filter(account=account).count() >= settings.WEBHOOK_ENDPOINTS_PER_ACCOUNT:
        raise Refused(
            _("An account may have %(limit)s endpoints; remove one first.")
            % {"limit": settings.WEBHOOK_ENDPOINTS_PER_ACCOUNT},
            code="webhook_endpoint_limit",
        )


def register_endpoint(*, account, url: str, event_types: list[str], description: str = "", actor) -> Registered:
    """A new endpoint for `account` (None: an operator's, for every account)."""
    url = url.strip()
    check_url(url)
    event_types = _checked_types(event_types)
    if account is None and not (actor.is_staff and actor.has_perm("accounts.add_webhookendpoint")):
        raise Refused(_("Only operators may add endpoints for every account."))
    with transaction.atomic():
        if account is not None:  # the account's row, not its endpoints' (none to lock at first): one at a time
            Account.objects.select_for_update().filter(pk=account.pk).first()
            check_room(account)
        secret = new_secret()
        endpoint = WebhookEndpoint.objects.create(
            account=account,
            url=url,
            description=description.strip()[:200],
            event_types=event_types,
            secret=secret,
            created_by=actor,
        )
    return Registered(endpoint, secret)


def change_endpoint(endpoint: WebhookEndpoint, *, url: str, event_types: list[str], description: str) -> None:
    url = url.strip()
    check_url(url)
    endpoint.url, endpoint.event_types = url, _checked_types(event_types)
    endpoint.description = description.strip()[:200]
    endpoint.save(update_fields=["url", "event_types", "description"])


def rotate_secret(endpoint: WebhookEndpoint, *, now: datetime | None = None) -> str:
    """A new secret; the old one keeps signing beside it for the overlap."""
    now = now or timezone.now()
    secret = new_secret()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret, locked.secret = locked.secret, secret
        locked.previous_secret_until = now + timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    return secret


def set_enabled(endpoint: WebhookEndpoint, enabled: bool) -> None:
    """Turn an endpoint off or on; on again, what waited is delivered."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=enabled, disabled_reason="", disabled_reason_parts=None
    )
    if enabled:
        transaction.on_commit(lambda: wake([endpoint.pk]))


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def replay_delivery(delivery: EventDelivery, *, now: datetime | None = None) -> None:
    """Send one event again, with a fresh set of retries."""
    replay_deliveries(EventDelivery.objects.filter(pk=delivery.pk), now=now)


def replay_deliveries(deliveries, *, now: datetime | None = None) -> int:
    """Send these deliveries again (admin's action on a selection); returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        endpoint_ids = sorted(set(deliveries.values_list("endpoint_id", flat=True)))
        count = deliveries.update(status=EventDelivery.Status.PENDING, attempts=0, next_attempt_at=now,
                                  first_failed_at=None, delivered_at=None)  # fmt: skip
        transaction.on_commit(lambda: wake(endpoint_ids))
    return count


def replay_range(endpoint: WebhookEndpoint, *, since: datetime, until: datetime) -> int:
    """Send again every event of the endpoint's account and types between two moments, including
    those that happened before the endpoint was added. Returns how many."""
    if until <= since:
        raise Invalid(_("The end of the range must come after its start."), code="webhook_range")
    events = WebhookEvent.objects.filter(type__in=endpoint.event_types, created_at__gte=since, created_at__lt=until)
    if endpoint.account_id is not None:
        events = events.filter(account_id=endpoint.account_id)
    with transaction.atomic():
        event_ids = list(events.order_by("id").values_list("pk", flat=True))
        have = set(
            EventDelivery.objects.filter(endpoint=endpoint, event_id__in=event_ids).values_list("event_id", flat=True)
        )
        EventDelivery.objects.bulk_create(
            [EventDelivery(endpoint=endpoint, event_id=pk) for pk in event_ids if pk not in have]
        )
        replay_deliveries(EventDelivery.objects.filter(endpoint=endpoint, event_id__in=event_ids))
    return len(event_ids)


def _checked_types(event_types: list[str]) -> list[str]:
    chosen = [name for name in EVENT_TYPES if name in set(event_types)]
    if not chosen or len(chosen) != len(set(event_types)):
        raise Invalid(_("Choose at least one of the events listed."), code="webhook_events")
    return chosen
