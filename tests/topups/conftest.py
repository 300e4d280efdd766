"""Fixtures for online top-ups."""

from tests.tickets.conftest import clerk, finance_group  # noqa: E402, F401  (finance clerks, for refunds)
