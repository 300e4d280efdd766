"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app."""

import os

from celery import Celery
from celery.signals import worker_ready

# Like wsgi.py: a worker started without DJANGO_SETTINGS_MODULE gets production settings,
# which refuse to start without real secrets. `make run` and manage.py choose base.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_center.settings.production")

app = Celery("billing_center")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _heartbeat_on_start(**kwargs) -> None:
    """Report in at once, so /healthz need not wait for beat's first tick."""
    from billing_center.health import record_worker_heartbeat

    record_worker_heartbeat()
