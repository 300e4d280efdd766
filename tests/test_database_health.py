"""The connection's health check between requests (billing_center.postgresql): no round trip
while the server has said nothing, a new connection once it has closed ours."""

import psycopg
import pytest
from django.db import close_old_connections, connection

from tests.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def persistent_connection():
    """The connection as web and workers have it: kept between requests, checked before reuse."""
    saved = {key: connection.settings_dict[key] for key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")}
    connection.settings_dict.update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)
    connection.close()
    yield connection
    connection.settings_dict.update(saved)
    connection.close()


@pytest.fixture
def observer():
    """A second connection, from outside Django, that watches and ends our backend."""
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"], dbname=settings["NAME"],
        autocommit=True,
    ) as watcher:  # fmt: skip
        yield watcher


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid() AS our_backend")
        return cursor.fetchone()[0]


def a_request(work):
    """What Django's request cycle does around a view: close_old_connections on start and finish."""
    close_old_connections()
    try:
        return work()
    finally:
        close_old_connections()


def test_a_healthy_connection_is_reused_without_asking_the_server(persistent_connection, observer):
    first = a_request(backend_pid)

    close_old_connections()  # the next request starts, and its first cursor runs the health check
    with connection.cursor():
        last_query = observer.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [first]).fetchone()[0]
    close_old_connections()

    assert "our_backend" in last_query  # Django's check would have sent SELECT 1 by now
    assert a_request(backend_pid) == first


def test_a_connection_the_server_closed_between_requests_is_replaced_before_the_next_query(
    persistent_connection, observer
):
    first = a_request(backend_pid)
    observer.execute("SELECT pg_terminate_backend(%s)", [first])  # a restart or failover, for this connection
    assert wait_for(lambda: not observer.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [first]).fetchone())

    second = a_request(backend_pid)  # no OperationalError: the check saw the closed socket and reconnected

    assert second != first
    assert a_request(backend_pid) == second
