"""The cluster test's beats: production settings with a schedule of seconds, so that more than ten
periods pass while the test runs. The entries are real periodic tasks, run by the cluster's
workers (tests/reliability/cluster_checks.py counts them)."""

from billing_center.settings.production import *  # noqa: F403

CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "accounts.tasks.record_worker_heartbeat", "schedule": 1.0},
    "sweep-webhooks": {"task": "accounts.tasks.sweep_webhooks", "schedule": 3.0},
    # What a web node killed between its commit and its publish left pending, sent by the sweep.
    "resend-pending-emails": {
        "task": "accounts.tasks.resend_pending_emails",
        "schedule": 3.0,
        "kwargs": {"older_than_seconds": 10},
    },
    # Deliveries a web node killed between its wake flag and its publish left waiting, with no delivery after them
    # to publish again: production's minute sweep (settings/schedule.py), in seconds. Without it the test had
    # waited its 180 s for them in two runs of three.
    "sweep-deliveries": {
        "task": "topups.tasks.sweep_deliveries",
        "schedule": 3.0,
        "kwargs": {"older_than_seconds": 5},
    },
}
