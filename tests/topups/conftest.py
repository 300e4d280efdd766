"""Fixtures for online top-ups."""

from decimal import Decimal

import pytest

from tests.factories import UserFactory
from tests.tickets.conftest import clerk, finance_group  # noqa: E402, F401  (finance clerks, for refunds)
from topups.auto_topup import configure
from topups.models import AutoTopUp


@pytest.fixture
def alice(client):
    """A prepaid customer, signed in (a module may define its own alice instead)."""
    user = UserFactory(username="alice")
    client.force_login(user)
    return user


def card_on_file(user, *, gateway: str = "stripe", daily: str = "300", payment_method: str = "pm_1") -> AutoTopUp:
    """A saved card and auto top-up on at 50 / 100 USD, as the pages would leave them."""
    auto = AutoTopUp.objects.create(
        account=user.account,
        owner=user,
        gateway=gateway,
        gateway_customer_id="cus_1",
        payment_method_id=payment_method,
        card_label="Visa •••• 4242",
    )
    configure(
        account_id=user.account_id,
        actor=user,
        enabled=True,
        threshold=Decimal("50"),
        amount=Decimal("100"),
        daily_ceiling=Decimal(daily),
        monthly_ceiling=Decimal("1000"),
    )
    return auto
