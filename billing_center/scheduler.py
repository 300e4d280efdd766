"""One scheduler however many beat processes run: each periodic task is sent once per period.

Every node of a cluster may run `celery beat` (so losing one node loses no schedule). Before a
beat sends a due task it inserts a PeriodicRun row for the task and the period the moment falls
in, in the same transaction as the publish; the unique (task, period_start) constraint lets one
beat through and turns the others' inserts into a skip. It needs nothing but the database, so it
works on any broker. A publish that fails rolls the claim back, leaving the period to the next
beat's tick.

A stop (SIGTERM, SIGINT) that arrives while a beat sends waits until the claim is committed and its
line logged: Celery's handler raises SystemExit wherever the beat is, and raised between the publish
and the commit it left a task sent with no claim, for the next beat to send again. A publish that
hangs holds the stop; SIGKILL still ends the beat.

Periods: an interval schedule of N seconds is cut into N-second slots counted from the epoch (two
beats started apart still agree); a crontab fires at most once a minute, so its period is the minute.
"""

import logging
import os
import signal
import socket
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from celery.beat import PersistentScheduler
from celery.schedules import schedule as interval_schedule
from django.db import IntegrityError, close_old_connections, connection, transaction

logger = logging.getLogger(__name__)
KEEP_CLAIMS = timedelta(days=2)


def period_start(entry_schedule, now: datetime) -> datetime:
    """The start of the period `now` falls in, the same in every beat process."""
    seconds = now.timestamp()
    if isinstance(entry_schedule, interval_schedule):
        every = max(1.0, entry_schedule.run_every.total_seconds())
        return datetime.fromtimestamp(seconds - seconds % every, tz=UTC)
    return datetime.fromtimestamp(seconds - seconds % 60, tz=UTC)


STOPS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stops_held():
    """SIGTERM and SIGINT wait at the door until the block is done, then act as they would have.

    Python runs signal handlers in the main thread only, so a block in another thread (a beat
    embedded in a worker's thread) is never interrupted. In the main thread the handlers are
    swapped for one that notes the signal, and the signal is raised again afterwards: blocking it
    with a signal mask holds only this thread's share, and the kernel hands a process's SIGTERM
    to any other thread (Celery's remote-control thread, a library's), whose note Python then
    acts on in the main thread all the same."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    before = {stop: signal.signal(stop, lambda signum, frame: noted.append(signum)) for stop in STOPS}
    try:
        yield
    finally:
        for stop, handler in before.items():
            signal.signal(stop, handler)
        for signum in dict.fromkeys(noted):
            signal.raise_signal(signum)


class OncePerPeriodScheduler(PersistentScheduler):
    claimed_by = f"{socket.gethostname()}:{os.getpid()}"

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        from billing_center.models import PeriodicRun

        close_old_connections()  # beat lives for weeks; its connection may have gone
        connection.ensure_connection()  # before the stops are held: a database that is away would hold them
        start = period_start(entry.schedule, self.app.now())
        with stops_held():
            try:
                with transaction.atomic():
                    PeriodicRun.objects.create(task=entry.name, period_start=start, claimed_by=self.claimed_by)
                    result = super().apply_async(entry, producer, advance, **kwargs)
            except IntegrityError:
                logger.info("periodic task %s: another beat sent it for %s", entry.name, start.isoformat())
                return None
            logger.info("periodic task %s: sent for %s", entry.name, start.isoformat())
        PeriodicRun.objects.filter(task=entry.name, period_start__lt=start - KEEP_CLAIMS).delete()
        return result
