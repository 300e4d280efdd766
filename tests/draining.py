"""Draining the Celery queue: proof that a real worker has nothing left to do.

A test that must show that nothing (more) happened cannot sleep and hope. It publishes a
sentinel task behind the work and waits until the worker has run it. The test workers
consume one queue in order, one task at a time (solo pool, prefetch 1), so when the
sentinel runs, every task published before it has run too, or is being held for a retry
countdown.

The sentinel runs inside the worker, so it also reports what the worker has done: how many
tasks of each name it has started (`celery.worker.state.total_count`) and how many retries it
is holding for their countdown (`celery.worker.state.scheduled_requests`). `drain()` keeps
publishing sentinels until one finds no retries held and no task started since the previous
sentinel. At that point the queue is empty, nothing is running and nothing is due later,
including tasks that the drained tasks published themselves. (The test processes run no beat.)

The in-process worker (the `celery_worker` fixture) knows the sentinel because importing this
module registers it before that worker starts. A worker process has to import it too:
`SentinelCeleryWorker` starts one with `--include tests.draining`.
"""

import itertools
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from billing_center.celery import app
from tests.helpers import transport_of
from tests.reliability.processes import CeleryWorker

SENTINEL = "tests.draining.sentinel"


@app.task(name=SENTINEL, ignore_result=True)
def sentinel(report_path: str) -> None:
    """Write what this worker has done to `report_path`, all at once (so no half-written report is read)."""
    from celery.worker import state

    report = {
        "started": {name: count for name, count in state.total_count.items() if name != SENTINEL},
        "held": len(state.scheduled_requests),
    }
    partial = f"{report_path}.partial"
    Path(partial).write_text(json.dumps(report))
    os.replace(partial, report_path)


class SentinelCeleryWorker(CeleryWorker):
    """A Celery worker process, as in tests.reliability.processes, that can also run the sentinel."""

    def __init__(self, env: dict[str, str], **kwargs):
        super().__init__(env, **kwargs)
        self.argv += ["--include", "tests.draining"]


def drain(*, broker_url: str | None = None, timeout: float = 60.0, what: str = "the worker") -> int:
    """Wait until the worker on `broker_url` (default: where this process publishes) has run
    every task published so far, every task those published, and every retry it held.

    Returns how many sentinels it took. Raises TimeoutError if the worker never went quiet.
    """
    deadline = time.monotonic() + timeout
    previous = None
    for round_number in itertools.count(1):
        report = worker_report(broker_url=broker_url, deadline=deadline, what=what)
        if report["held"] == 0 and report["started"] == previous:
            return round_number
        previous = report["started"]
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{what} was still busy after {timeout:.0f} s: {report['held']} retries held, "
                f"tasks started so far {report['started']}"
            )
        if report["held"]:
            time.sleep(0.2)  # waiting for the held retries to come due, within the deadline


def tasks_started(*, broker_url: str | None = None, timeout: float = 60.0) -> dict[str, int]:
    """How many tasks of each name the worker on `broker_url` has started so far, by its own
    count (after drain(), nothing published is still waiting)."""
    return worker_report(broker_url=broker_url, deadline=time.monotonic() + timeout)["started"]


def worker_report(*, broker_url: str | None, deadline: float, what: str = "the worker") -> dict:
    """Publish a sentinel behind everything queued and return what it reports, once it has run."""
    folder = Path(tempfile.mkdtemp(prefix="billing-drain-"))
    report_path = folder / "sentinel.json"
    try:
        with app.connection_for_write(broker_url, transport=transport_of(broker_url)) as connection:
            app.send_task(SENTINEL, args=[str(report_path)], connection=connection)
        while not report_path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} did not run the drain sentinel in time")
            time.sleep(0.05)
        return json.loads(report_path.read_text())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
