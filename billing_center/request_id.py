"""One id per request, on every log line it causes, here and in the Celery tasks it queues.

The middleware takes a well-formed incoming X-Request-ID (a load balancer's, so its logs and
ours match) or makes one, and echoes it in the response. A context variable holds it while the
request is served; RequestIdFilter copies it onto each log record. Celery's signals (connected
in billing_center.celery) carry it in a message header of every task published meanwhile, and
set it in the worker while that task runs, so the tasks that task queues carry it too.
"""

import logging
import re
import uuid
from contextvars import ContextVar

from django.core.signals import request_finished
from django.dispatch import receiver

HEADER = "X-Request-ID"
TASK_HEADER = "request_id"  # the Celery message header; a custom header becomes task.request.request_id
# What load balancers and proxies send (a UUID, 32 hex digits): letters, digits and . _ : -, at
# most 128. Anything else is replaced by our own id, so a client cannot smuggle text into logs.
WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    return _current.get()


def set_request_id(value: str | None) -> None:
    _current.set(value if value and WELL_FORMED.fullmatch(value) else None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_middleware(get_response):
    def middleware(request):
        incoming = request.headers.get(HEADER, "")
        request_id = incoming if WELL_FORMED.fullmatch(incoming) else new_request_id()
        _current.set(request_id)
        response = get_response(request)
        response[HEADER] = request_id
        return response

    return middleware


@receiver(request_finished)
def _forget_request_id(**kwargs) -> None:
    """Cleared when the response is closed, not when the middleware returns: Django logs a 4xx
    or 5xx answer ("Not Found: /x") after the middleware chain, and that line needs the id too."""
    _current.set(None)


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record (None outside a request or a task that has one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get()
        return True


class RefusalsWithoutTraceback(logging.Filter):
    """An answer of 4xx is the product working (a clerk without the permission, a page that is not
    there): Django logs each with the exception's traceback, which reads like a fault and buries the
    real ones. The line stays, its status and path with it; the traceback goes. 5xx keep theirs.
    A request Django finds suspicious (a Host header not ours, from anyone on the internet) is logged
    by django.security at ERROR: it stays a warning, on one line, for whoever watches for probes."""

    def filter(self, record: logging.LogRecord) -> bool:
        refused = 400 <= getattr(record, "status_code", 500) < 500
        if refused and (record.name == "django.request" or record.name.startswith("django.security.")):
            record.exc_info, record.exc_text = None, None
            if record.name.startswith("django.security.") and record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


# --- Celery (connected in billing_center.celery) -----------------------------------------------


def add_to_task_headers(headers: dict | None = None, **kwargs) -> None:
    """before_task_publish: a task published while serving a request carries the request's id."""
    request_id = _current.get()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


def restore_in_worker(task=None, **kwargs) -> None:
    """task_prerun: the task runs under the id its message carried (None if it carried none).

    A task run eagerly (task.apply()) is part of its caller, whose id stays."""
    if task is not None and not task.request.is_eager:
        set_request_id(getattr(task.request, TASK_HEADER, None))


def forget_in_worker(task=None, **kwargs) -> None:
    """task_postrun: the next task on this worker does not inherit the id."""
    if task is not None and not task.request.is_eager:
        _current.set(None)
