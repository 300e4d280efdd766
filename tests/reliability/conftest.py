"""The reliability suite runs our real processes against the test database: PostgreSQL only."""

import pytest

from tests.conftest import require


@pytest.fixture
def database_url(transactional_db) -> str:
    """The pytest test database, as a URL our gunicorn and worker processes can open."""
    from django.db import connection

    require(connection.vendor == "postgresql", "PostgreSQL (set DATABASE_URL=postgres://...)")
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
