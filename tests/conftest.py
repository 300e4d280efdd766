"""Shared fixtures. Under CI=true a test whose service is missing fails instead of skipping."""

import os
import time
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; Django must allow ORM calls there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def require(condition: bool, what: str) -> None:
    """Skip locally when a service is missing; in CI the same absence is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI needs {what}, and it is missing.")
    pytest.skip(f"needs {what}")


def pytest_sessionstart(session):
    """The translation catalogues compiled (with Babel, as `make test` does) before any test reads one."""
    from billing_center.catalogues import compile_all

    compile_all()


def pytest_collection_modifyitems(items):
    """`-m celery` selects every test a real Celery worker runs (CI runs them again on RabbitMQ)."""
    for item in items:
        if "celery_worker" in getattr(item, "fixturenames", ()):
            item.add_marker("celery")


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres"):
        from django.conf import settings

        engine = settings.DATABASES["default"]["ENGINE"]
        require(engine.endswith("postgresql"), "PostgreSQL (set DATABASE_URL=postgres://...)")


@pytest.fixture(autouse=True)
def site_language():
    """Each test starts in the site's language: a request through LocaleMiddleware (a Chinese
    browser in an earlier test) leaves its language active in the test's thread."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    require(Path(CHROMIUM).exists(), f"Debian's chromium at {CHROMIUM}")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS, "headless": True}


@pytest.fixture
def screenshot_dir() -> Path:
    path = ARTIFACTS / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def stripe_settings(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_billing_center_fake"
    settings.STRIPE_WEBHOOK_SECRETS = ["whsec_test_current"]
    return settings


@pytest.fixture
def fake_stripe(stripe_settings):
    from tests.fakes.stripe import FakeStripe

    with FakeStripe() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _sqlite_ledger_trigger_allows_flush(request):
    """Transactional tests end with a flush, which on SQLite is a DELETE the append-only
    ledger trigger refuses (PostgreSQL flushes with TRUNCATE, which the row trigger
    allows). On SQLite only, lift the trigger for that flush and put it back after."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    from django.conf import settings

    if not transactional or not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        yield
        return
    import importlib

    from django.db import connection

    migration = importlib.import_module("accounts.migrations.0002_ledger_append_only")
    request.getfixturevalue("_django_db_helper")  # set up first, so it is torn down after us
    with connection.cursor() as cursor:
        for statement in migration.SQLITE_DOWN + migration.SQLITE_UP:
            cursor.execute(statement)
    yield
    with connection.cursor() as cursor:
        for statement in migration.SQLITE_DOWN:
            cursor.execute(statement)


def wait_for(condition, *, timeout: float = 30.0) -> bool:
    """Poll until condition() holds: the file broker and workers poll about once a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def celery_worker():
    """A real Celery worker, in a thread, on the configured broker (file locally, Redis in CI)."""
    from celery.contrib.testing.worker import start_worker
    from django.core.cache import cache

    from billing_center.celery import app
    from topups.wake import flag_key

    # Earlier tests published tasks (credit e-mails) nobody consumed; they must not run
    # against this test's data. Declared first: RabbitMQ refuses to purge a queue it does not know yet.
    with app.connection_for_write() as conn:
        queue = app.amqp.queues[app.conf.task_default_queue].bind(conn.default_channel)
        queue.declare()
        queue.purge()
    # A purged batch task takes its wake flag along, or the next delivery would count on it (topups.wake).
    cache.delete(flag_key())
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


@pytest.fixture
def admin_client(db, admin_user):
    """pytest-django's admin_client (its own Client), verified with a one-time code as our admin requires."""
    from django.test import Client

    from tests.helpers import staff_login

    client = Client()
    staff_login(client, admin_user)
    return client
