"""/healthz: is the database answering, the broker reachable, a worker consuming?"""

import logging
import time

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

logger = logging.getLogger(__name__)
HEARTBEAT_KEY = "billing-center:worker-heartbeat"
# Beat asks for a heartbeat every 30 s; two missed ones mean no worker is consuming.
HEARTBEAT_STALE_AFTER = 90


def record_worker_heartbeat() -> None:
    cache.set(HEARTBEAT_KEY, time.time(), timeout=None)


def _failure(exc: Exception) -> dict:
    # The probe is public: name the kind of failure, keep hosts and messages in the log.
    logger.warning("Health check failed: %r", exc)
    return {"ok": False, "error": type(exc).__name__}


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # any failure is the answer we report
        return _failure(exc)


def _broker() -> dict:
    from billing_center.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            return {"ok": True}
    except Exception as exc:
        return _failure(exc)


def _worker() -> dict:
    try:
        beat = cache.get(HEARTBEAT_KEY)
    except Exception as exc:
        return _failure(exc)
    if beat is None:
        return {"ok": False, "error": "no heartbeat from any worker yet"}
    age = round(time.time() - beat, 1)
    return {"ok": age < HEARTBEAT_STALE_AFTER, "last_heartbeat_seconds_ago": age}


@never_cache
def healthz(request):
    checks = {"database": _database(), "broker": _broker(), "worker": _worker()}
    # Without the database nothing works; a missing worker only delays alerts and
    # reconciliation, so it is reported but does not fail the probe.
    status = "ok" if all(check["ok"] for check in checks.values()) else "degraded"
    if not checks["database"]["ok"]:
        status = "down"
    return JsonResponse({"status": status, **checks}, status=503 if status == "down" else 200)
