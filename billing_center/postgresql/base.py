"""Django's PostgreSQL backend, with a health check that costs no round trip while nothing is wrong.

With CONN_HEALTH_CHECKS on, Django sends `SELECT 1` before the first query of every request
that reuses a connection: a round trip to the server, and about 65 µs of the web process's CPU,
on every page and every webhook delivery. Between requests nothing is in flight on the
connection, so the server has nothing to say; when it closes the connection (a restart, a
failover, `pg_terminate_backend`, PgBouncer's idle timeout) it sends a notice or just the end
of the stream, and the socket becomes readable. So the check here looks at the socket without
waiting: nothing to read and no transaction left open means usable; anything else is asked
with Django's own `SELECT 1`, which reconnects if that fails.

What neither check can see is a peer gone without a word (a host powered off): both then wait
for TCP to give up. libpq's `keepalives_idle` connection option, in DATABASE_URL's query string,
shortens that; we set none.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if connection.info.transaction_status == TransactionStatus.IDLE and not _server_spoke(connection):
            return True
        return super().is_usable()


def _server_spoke(connection) -> bool:
    """Whether anything (a notice, the end of the stream) waits to be read on an idle connection."""
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError):  # no socket any more
        return True
    return bool(readable)
