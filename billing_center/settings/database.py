"""The database connection: SQLite by default, PostgreSQL through psycopg 3, pooled one of two ways.

Several web and worker nodes share one PostgreSQL, whose connections are few and dear. Either
PgBouncer in transaction mode sits in front (DATABASE_PGBOUNCER=true) — then a connection is ours
for one transaction only, so nothing may outlive a COMMIT: no server-side cursors (Django's
`.iterator()` then reads through an ordinary cursor) and no session state or session-level
advisory locks (we take none; only `pg_advisory_xact_lock`) — or, without PgBouncer,
DATABASE_POOL=true keeps a psycopg pool of DATABASE_POOL_MAX connections in each process.
"""

import dj_database_url

from .environment import env, env_bool


def database_settings(url: str) -> dict:
    database = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if database["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE takes the write lock when a transaction starts, so two top-ups on
        # SQLite queue up instead of failing half-way; WAL lets readers go on meanwhile.
        database["CONN_MAX_AGE"] = 0
        database["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        return database
    # Django's backend with a health check that looks at the socket instead of a round trip.
    database["ENGINE"] = "billing_center.postgresql"
    options = database.setdefault("OPTIONS", {})
    if env_bool("DATABASE_PGBOUNCER", False):
        # A cursor held open across transactions would land on another server connection.
        database["DISABLE_SERVER_SIDE_CURSORS"] = True
    elif env_bool("DATABASE_POOL", False):
        # Django's psycopg pool replaces persistent connections (it refuses CONN_MAX_AGE with a pool).
        database["CONN_MAX_AGE"] = 0
        database["CONN_HEALTH_CHECKS"] = False
        options["pool"] = {
            "min_size": int(env("DATABASE_POOL_MIN", "1")),
            "max_size": int(env("DATABASE_POOL_MAX", "10")),
            "timeout": float(env("DATABASE_POOL_TIMEOUT", "10")),
        }
    return database
