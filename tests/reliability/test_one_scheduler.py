"""Two real `celery beat` processes, each with its own schedule file (as each node has its own
disk), on a schedule of one and three seconds for twelve seconds: every periodic task is
published once per period, never twice, although both beats find every entry due."""

import itertools
import time
import uuid
from collections import Counter
from pathlib import Path

from kombu import Exchange, Queue

from tests.conftest import require
from tests.reliability.processes import BIN, Process, service_env, wait_until

RUN_SECONDS = 12
SENT, SKIPPED = ": sent for ", "another beat sent it"  # what a beat logs for each period it finds due


def ticked(log: str) -> bool:
    return SENT in log or SKIPPED in log


def published(queue_name: str) -> Counter:
    """Take every message off the queue: how many of each task."""
    from billing_center.celery import app

    found: Counter = Counter()
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(queue_name, no_ack=True)) is not None:
            found[message.headers["task"]] += 1
        channel.queue_delete(queue_name)
    return found


def test_two_beats_send_each_periodic_task_once_per_period(database_url, tmp_path):
    from django.conf import settings

    from billing_center.celery import app
    from billing_center.models import PeriodicRun

    require(not settings.CELERY_BROKER_URL.startswith("filesystem"), "a network broker (CELERY_BROKER_URL)")
    queue_name = f"beat-proof-{uuid.uuid4().hex[:8]}"
    with app.connection_for_write() as connection:  # declared first: RabbitMQ drops what no queue takes
        Queue(queue_name, Exchange(queue_name), routing_key=queue_name)(connection.default_channel).declare()
    env = service_env(
        database_url=database_url,
        broker_url=settings.CELERY_BROKER_URL,
        DJANGO_SETTINGS_MODULE="tests.beat_settings",
        BEAT_PROOF_QUEUE=queue_name,
    )
    beats = [
        Process(
            f"beat-{n}",
            [
                str(BIN / "celery"),
                "-A",
                "billing_center",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(tmp_path / f"node-{n}" / "celerybeat-schedule"),
            ],
            env,
        )
        for n in (1, 2)
    ]
    for n, beat in enumerate(beats, 1):
        Path(tmp_path / f"node-{n}").mkdir()
        beat.start()
    try:
        wait_until(lambda: PeriodicRun.objects.exists(), timeout=30, what="the first periodic run")
        # A beat that starts later (a loaded machine) contests no period before it is up: the count of
        # periods the other beat stood back from starts once both have ticked. Skips read before runs.
        wait_until(lambda: all(ticked(beat.log()) for beat in beats), timeout=30, what="both beats to tick")
        skipped_before = sum(beat.log().count(SKIPPED) for beat in beats)
        runs_before = PeriodicRun.objects.count()
        time.sleep(RUN_SECONDS)  # the schedule's own clock: twelve one-second periods must pass
    finally:
        for beat in beats:
            beat.stop()
    logs = [beat.log() for beat in beats]

    runs = Counter(PeriodicRun.objects.values_list("task", flat=True))
    messages = published(queue_name)
    skipped = sum(log.count(SKIPPED) for log in logs)
    sent_by = [log.count(SENT) for log in logs]
    print(
        f"two beats, {RUN_SECONDS} s: runs {dict(runs)}, messages {dict(messages)}, "
        f"sent by each beat {sent_by}, skipped {skipped}"
    )
    assert runs["every-second"] >= 10, runs
    assert runs["every-three-seconds"] >= 3, runs
    assert messages["accounts.tasks.record_worker_heartbeat"] == runs["every-second"], (messages, runs)
    assert messages["topups.tasks.refresh_exchange_rates"] == runs["every-three-seconds"], (messages, runs)
    # Both beats found every entry due each period: what one sent, the other stood back from.
    assert sum(sent_by) == sum(runs.values()), (sent_by, runs)
    # The last period may end before the later beat's tick.
    contested = sum(runs.values()) - runs_before
    assert skipped - skipped_before >= contested - 2, (skipped, skipped_before, runs, runs_before)
    starts = list(
        PeriodicRun.objects.filter(task="every-second").order_by("period_start").values_list("period_start", flat=True)
    )
    gaps = {(later - earlier).total_seconds() for earlier, later in itertools.pairwise(starts)}
    assert gaps == {1.0}, gaps  # one run in every period, none missed
