"""Test settings for the beats of tests/reliability/test_one_scheduler.py: a schedule of a few
seconds, published to a queue of their own that no worker reads (the test counts its messages)."""

import os

from billing_center.settings.test import *  # noqa: F403

CELERY_BEAT_SCHEDULE = {
    "every-second": {"task": "accounts.tasks.record_worker_heartbeat", "schedule": 1.0},
    "every-three-seconds": {"task": "topups.tasks.refresh_exchange_rates", "schedule": 3.0},
}
CELERY_TASK_DEFAULT_QUEUE = os.environ["BEAT_PROOF_QUEUE"]

if os.environ.get("BEAT_STOPPED_AFTER_PUBLISH"):
    # The stop the test sends arrives at the worst moment: the message is out, the claim not committed.
    import signal
    import threading

    from celery.signals import after_task_publish

    @after_task_publish.connect
    def stop_this_beat(**kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    # A second thread, as Celery's remote control (--enable-remote-control) or a library starts one:
    # the kernel may hand it the process's SIGTERM.
    threading.Thread(target=threading.Event().wait, daemon=True, name="another-thread").start()
