"""Two real `celery beat` processes, each with its own schedule file (as each node has its own
disk), on a schedule of one and three seconds for twelve seconds: every periodic task is
published once per period, never twice, although both beats find every entry due. And a beat
stopped between a publish and its commit keeps the claim."""

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


def proof_queue() -> str:
    """A queue of its own for the beats' messages, declared first: RabbitMQ drops what no queue takes."""
    from django.conf import settings

    from billing_center.celery import app

    require(not settings.CELERY_BROKER_URL.startswith("filesystem"), "a network broker (CELERY_BROKER_URL)")
    queue_name = f"beat-proof-{uuid.uuid4().hex[:8]}"
    with app.connection_for_write() as connection:
        Queue(queue_name, Exchange(queue_name), routing_key=queue_name)(connection.default_channel).declare()
    return queue_name


def beat_process(n: int, tmp_path: Path, database_url: str, queue_name: str, **env) -> Process:
    """A `celery beat` on tests.beat_settings with its own schedule file, as each node has its own disk."""
    from django.conf import settings

    Path(tmp_path / f"node-{n}").mkdir()
    argv = [str(BIN / "celery"), "-A", "billing_center", "beat", "--loglevel", "INFO"]
    schedule = ["--schedule", str(tmp_path / f"node-{n}" / "celerybeat-schedule")]
    env = service_env(
        database_url=database_url,
        broker_url=settings.CELERY_BROKER_URL,
        DJANGO_SETTINGS_MODULE="tests.beat_settings",
        BEAT_PROOF_QUEUE=queue_name,
        **env,
    )
    return Process(f"beat-{n}", [*argv, *schedule], env)


def test_a_beat_stopped_between_its_publish_and_its_commit_keeps_the_claim(database_url, tmp_path):
    """Celery's SIGTERM handler raises SystemExit wherever the beat is. Raised after the publish and
    before the commit, it rolled the claim back with the message already out: the next beat would send
    the period again. The stop waits for the commit and the log line."""
    from billing_center.models import PeriodicRun

    queue_name = proof_queue()
    stopped = beat_process(1, tmp_path, database_url, queue_name, BEAT_STOPPED_AFTER_PUBLISH="1")
    stopped.start()
    try:
        wait_until(lambda: not stopped.running(), timeout=30, what="the beat to stop itself after its first publish")
    finally:
        stopped.stop()

    messages = published(queue_name)
    runs = Counter(PeriodicRun.objects.values_list("task", flat=True))
    assert sum(messages.values()) == 1, (messages, stopped.log()[-2000:])
    assert sum(runs.values()) == 1, runs  # the message's period is claimed: no other beat sends it again
    assert stopped.log().count(SENT) == 1, stopped.log()[-2000:]


def test_two_beats_send_each_periodic_task_once_per_period(database_url, tmp_path):
    from billing_center.models import PeriodicRun

    queue_name = proof_queue()
    beats = [beat_process(n, tmp_path, database_url, queue_name) for n in (1, 2)]
    for each in beats:
        each.start()
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
