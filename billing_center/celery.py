"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app."""

import gc
import logging
import os

from celery import Celery
from celery.signals import (
    before_task_publish,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_ready,
)

from billing_center import request_id

# Like wsgi.py: a worker started without DJANGO_SETTINGS_MODULE gets production settings,
# which refuse to start without real secrets. `make run` and manage.py choose base.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_center.settings.production")

app = Celery("billing_center")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A task published while serving a request carries the request's id; the worker logs under it.
before_task_publish.connect(request_id.add_to_task_headers, weak=False)
task_prerun.connect(request_id.restore_in_worker, weak=False)
task_postrun.connect(request_id.forget_in_worker, weak=False)


@setup_logging.connect
def _log_as_django_settings_say(loglevel=None, **kwargs) -> None:
    """Workers and beat log through Django's LOGGING, as web does: the same format (plain or JSON
    lines), the same redaction of secrets and phone numbers, the request id on each line.
    Connected, this replaces Celery's own logging setup (which would drop those handlers); the
    level stays the one the command line gives (`celery worker --loglevel INFO`)."""
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


@worker_ready.connect
def _heartbeat_on_start(**kwargs) -> None:
    """Report in at once, so /healthz need not wait for beat's first tick."""
    from billing_center.health import record_worker_heartbeat

    record_worker_heartbeat()


@worker_ready.connect
@worker_process_init.connect
def _freeze_what_is_loaded(**kwargs) -> None:
    """As gunicorn.conf.py does for web: once the worker (or, in the prefork pool, each child) has
    loaded Django and the tasks, move those objects into the collector's permanent generation, so
    that a full collection walks only what tasks create. A batch of 200 credits creates enough
    objects to set off several; each had walked the whole app as well."""
    gc.freeze()
