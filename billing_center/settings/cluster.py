"""CLUSTER=true (production): several web and worker nodes, so nothing may live on one host.

Each node has its own disk and memory. A SQLite file, kombu's file broker, certificates in a
local folder or a cache in one process's memory or on one disk would split the product into
as many products as there are nodes: a ticket filed on one node unreadable on another, tasks
published where no other node's worker looks, a login throttle each node counts alone. Refused
at start-up, with every offending part named at once.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import CACHES, CELERY_BROKER_URL, DATABASES, S3_BUCKET, STORAGE_BACKEND, STORAGES
from .environment import env_bool

CLUSTER = env_bool("CLUSTER", False)
HOST_LOCAL_CACHES = ("LocMemCache", "FileBasedCache", "DummyCache")


def single_host_parts() -> list[str]:
    parts = []
    if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        parts.append("SQLite (set DATABASE_URL=postgres://...)")
    if CELERY_BROKER_URL.startswith(("filesystem://", "memory://")):
        parts.append("the file broker (set CELERY_BROKER_URL=amqp://... or redis://...)")
    local = [alias for alias in ("default", "certificates") if STORAGES[alias]["BACKEND"].endswith("FileSystemStorage")]
    if local:
        parts.append(f"local storage for {', '.join(local)} (set STORAGE_BACKEND=s3 and S3_*)")
    if CACHES["default"]["BACKEND"].endswith(HOST_LOCAL_CACHES):
        parts.append("a cache on one host (set REDIS_URL=redis://...)")
    return parts


if STORAGE_BACKEND == "s3" and not S3_BUCKET:
    raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs S3_BUCKET.")
if CLUSTER and (parts := single_host_parts()):
    raise ImproperlyConfigured("CLUSTER=true refuses single-host parts: " + "; ".join(parts) + ".")
