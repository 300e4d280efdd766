"""gunicorn's settings; gunicorn reads this file from the working directory by itself.

One process per core, four threads each (WEB_CONCURRENCY and WEB_THREADS override). On two
cores (`make bench`, bench/README.md) 2 × 4, 4 × 2, 3 × 3 and 2 × 8 served the same within
noise, so the smallest number of processes wins: threads cover the waits on PostgreSQL and
the broker, and every extra process costs its own memory and database connections.
"""

import gc
import os


def cores() -> int:
    """The cores this process may run on (a container's CPU set), not every core of the host:
    each thread holds a database connection, so workers × threads must fit max_connections."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 2  # macOS has no CPU sets


workers = int(os.environ.get("WEB_CONCURRENCY") or cores())
threads = int(os.environ.get("WEB_THREADS") or 4)


def post_worker_init(worker) -> None:
    """Once a worker has loaded the app and its views, move every object it holds into the
    collector's permanent generation (gc.freeze): a full collection then walks only what requests
    create, not the app's long-lived objects (some 170,000). A batch of 1,000 charges creates
    enough objects to set off several full collections, which had cost a quarter to a third of
    the workers' CPU per charge."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view module, as the first request would)
    gc.freeze()
