"""Seeing the system run: log lines, readable or JSON, each with its request id.

Imported at the end of base.py; docs/operations.md tells an operator what each setting does.
"""

from django.core.exceptions import ImproperlyConfigured

from .environment import env

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
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
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
