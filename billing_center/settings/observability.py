"""Seeing the system run: log lines (readable or JSON, each with its request id) and /metrics.

Imported at the end of base.py; docs/operations.md tells an operator what each setting does.
"""

import ipaddress

from django.core.exceptions import ImproperlyConfigured

from .environment import env, env_bool, env_list

# --- Logs -------------------------------------------------------------------------------
# "plain": one readable line per record, for `make run` and a terminal. "json": one JSON object
# per line (time, level, logger, message, request_id, and any extra fields), for a log shipper.
LOG_FORMAT = env("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be plain or json.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # The id of the request (or of the request that queued the task) being served.
        "request_id": {"()": "billing_center.request_id.RequestIdFilter"},
        "refusals": {"()": "billing_center.request_id.RefusalsWithoutTraceback"},
    },
    "formatters": {
        # Both redact secrets and full phone numbers from every line, tracebacks included.
        "plain": {
            "()": "billing_center.log_redaction.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        },
        "json": {
            "()": "billing_center.log_redaction.RedactingJsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id", "refusals"]},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # A hostile PDF makes pypdf warn once per broken object (tens of thousands of lines);
        # the certificate check reports the verdict itself.
        "pypdf": {"level": "ERROR"},
    },
}

# --- /metrics (billing_center.metrics) ----------------------------------------------------
# A scraper is let in when it passes every check configured: the bearer token, the address
# allow-list (IP addresses or networks, comma-separated). With neither configured the page is
# a 404, except to a loopback address while METRICS_OPEN_ON_LOOPBACK (on here, off in production).
METRICS_TOKEN = env("METRICS_TOKEN", "")
METRICS_ALLOW = env_list("METRICS_ALLOW")
for _network in METRICS_ALLOW:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOW: {exc}") from None
METRICS_OPEN_ON_LOOPBACK = env_bool("METRICS_OPEN_ON_LOOPBACK", True)
# What the page reports besides the process and HTTP metrics: each app's counts, read from the
# database at scrape time (so every web process answers the same), and the broker's queues.
METRICS_SOURCES = [
    "accounts.metrics.collect",
    "topups.metrics.collect",
    "tickets.metrics.collect",
    "billing_center.metrics.collect_broker",
]
