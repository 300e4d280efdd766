"""Waking the workers once per burst of deliveries, not once per delivery.

Publishing a task costs a web request more than storing the delivery does, and one queued
task already drains every delivery stored before it starts (topups.batches claims until a batch
comes back short). So a shared flag in Django's cache says "a batch task is queued and has not
started yet":

- Intake, after its delivery is committed, adds the flag (an atomic add, a few seconds'
  timeout) and publishes the task only if the add succeeded: flag first, then the message.
- The task deletes the flag before its first claim, then claims until a batch comes back short.

Why no delivery is stranded: a delivery whose add failed was committed before that add. The
flag was present, so the task published by whoever set it last has not deleted it yet (it
deletes before it claims, and a delete in between would have let our add succeed). That task
deletes after our add, hence claims after our commit, and claims until nothing is left: it
finds our delivery, or a worker already holds it.

What can still go wrong is a flag with no task behind it: the publish was lost (the broker
away, the web process killed between the add and the publish). The flag's timeout bounds that:
the next delivery after it publishes again, and the minute sweep (topups.tasks.sweep_deliveries)
publishes regardless of the flag for deliveries left waiting. A gateway that retries a delivery
whose own intake set the flag it finds (that intake never answered) publishes at once.

Where the processes do not share a cache (LocMemCache, DummyCache: one process each), a flag
proves nothing about the other processes, so every delivery publishes, as before. The file
cache is shared on one host (`make run`; billing_center.cache makes its add atomic), Redis
across hosts (settings/cluster.py refuses anything else on a cluster). The key names the
broker: a flag vouches for a task queued on that broker.

A worker that claims a full batch wakes one peer the same way, so a backlog is drained by every
worker (SKIP LOCKED splits it) while at most one task waits in the queue.
"""

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from accounts.notifications import broker_breaker, publish

logger = logging.getLogger(__name__)
PROCESS_LOCAL_CACHES = ("LocMemCache", "DummyCache")


def wake_after_commit(*, delivery_id: int, redelivered: bool = False) -> None:
    """After the caller's commit, wake a worker for a stored delivery unless one is already queued."""
    transaction.on_commit(lambda: wake(by=delivery_id, redelivered=redelivered))


def wake(*, by: int = 0, redelivered: bool = False) -> bool:
    """Publish the batch task unless one is queued and not started; True if it was published.

    `by` is stored in the flag (a delivery's id, 0 for a worker); a redelivery (`redelivered`)
    that finds its own first intake's flag publishes anyway: that intake may have died before
    publishing, which is why the gateway sends it again."""
    if broker_breaker.is_open or not cache_is_shared():
        publish_batch_task()  # the breaker: publish() leaves it to the sweep, without a cache round trip
        return True
    key = flag_key()
    try:
        if not cache.add(key, by, timeout=settings.DELIVERY_WAKE_SECONDS):
            if not (redelivered and by and cache.get(key) == by):
                return False
    except Exception as exc:  # the cache is away: publishing every time is slower, never wrong
        logger.warning("Wake flag unavailable, publishing the batch task anyway: %r", exc)
    publish_batch_task()
    return True


def wake_peer() -> None:
    """A worker's full batch: wake one more worker for the backlog (no-op without a shared cache,
    where every delivery published a task of its own)."""
    if cache_is_shared():
        wake()


def woken() -> None:
    """The task's first step, before its first claim: a delivery stored from now on wakes another."""
    if not cache_is_shared():
        return
    try:
        cache.delete(flag_key())
    except Exception as exc:  # the flag expires by itself; intake publishes meanwhile if it cannot reach it
        logger.warning("Could not clear the wake flag: %r", exc)


def publish_batch_task() -> None:
    """Publish the batch task regardless of the flag (the sweep, and where the cache is not shared)."""
    from .tasks import apply_deliveries

    publish(apply_deliveries)


def cache_is_shared() -> bool:
    """Whether the web and worker processes see the same cache (the flag means nothing otherwise)."""
    return not settings.CACHES["default"]["BACKEND"].endswith(PROCESS_LOCAL_CACHES)


def flag_key() -> str:
    """The flag's key for the broker this process publishes to (its URL and, for the file
    broker, its folder), hashed so no credential is written to the cache."""
    from billing_center.celery import app

    conf = app.conf
    folder = (conf.broker_transport_options or {}).get("data_folder_in", "")
    broker = f"{conf.broker_write_url or conf.broker_url}|{folder}"
    return "topups:wake:" + hashlib.blake2s(broker.encode(), digest_size=8).hexdigest()
