"""After a gateway notification is stored: the worker's part, run in this process.

The webhook only stores a verified delivery and answers; a worker credits stored deliveries
in batches (topups.batches.apply_deliveries, the body of the `topups.tasks.apply_deliveries`
task). Tests that are not about the worker itself run that body here, after posting, as the
worker would; tests about the worker run a real one (tests.draining).
"""

from topups.batches import apply_deliveries
from topups.models import WebhookDelivery


def apply_stored() -> dict[str, int]:
    """Apply every stored delivery that waits, as the worker does; counts by verdict."""
    return apply_deliveries()


def verdict_of(response) -> str:
    """What was made of the delivery a webhook answer acknowledged, once applied."""
    return WebhookDelivery.objects.get(event_id=response.json()["event"]).verdict


def delivered(response) -> str:
    """Apply what is stored, then the verdict of the delivery this answer acknowledged."""
    assert response.status_code == 200, response.content
    apply_stored()
    return verdict_of(response)
