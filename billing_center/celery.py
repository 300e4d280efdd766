"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_ready

# Like wsgi.py: a worker started without DJANGO_SETTINGS_MODULE gets production settings,
# which refuse to start without real secrets. `make run` and manage.py choose base.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_center.settings.production")

app = Celery("billing_center")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def ensure_broker_folders() -> None:
    """Kombu's filesystem transport fails on a missing folder instead of creating it."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@worker_ready.connect
def _heartbeat_on_start(**kwargs) -> None:
    """Report in at once, so /healthz need not wait for beat's first tick."""
    from billing_center.health import record_worker_heartbeat

    record_worker_heartbeat()
