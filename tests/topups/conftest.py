"""Fixtures for online top-ups."""

import pytest

from tests.factories import UserFactory
from tests.tickets.conftest import clerk, finance_group  # noqa: E402, F401  (finance clerks, for refunds)


@pytest.fixture
def alice(client):
    """A prepaid customer, signed in (a module may define its own alice instead)."""
    user = UserFactory(username="alice")
    client.force_login(user)
    return user
