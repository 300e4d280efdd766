"""gunicorn's settings; gunicorn reads this file from the working directory by itself.

One process per core, four threads each (WEB_CONCURRENCY and WEB_THREADS override). On two
cores (`make bench`, bench/README.md) 2 × 4, 4 × 2, 3 × 3 and 2 × 8 served the same within
noise, so the smallest number of processes wins: threads cover the waits on PostgreSQL and
the broker, and every extra process costs its own memory and database connections.
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
threads = int(os.environ.get("WEB_THREADS") or 4)
