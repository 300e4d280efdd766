"""Where each process has a cache of its own, a wake flag proves nothing: every delivery publishes
its batch task, as before (topups.wake). The shared cases run real processes:
tests/reliability/test_wake.py."""

import pytest

from tests.draining import drain, tasks_started
from tests.factories import PendingTopUpFactory
from tests.fakes.stripe import event, paid_session, post_webhook, signed
from topups.models import TopUp

BATCH_TASK = "topups.tasks.apply_deliveries"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", ["locmem.LocMemCache", "dummy.DummyCache"])
def test_with_a_cache_of_one_process_every_delivery_publishes_its_task(
    client, stripe_settings, celery_worker, settings, backend
):
    settings.CACHES = {"default": {"BACKEND": f"django.core.cache.backends.{backend}"}}
    topups = [PendingTopUpFactory() for _ in range(3)]
    drain()
    before = tasks_started().get(BATCH_TASK, 0)

    for topup in topups:
        answer = post_webhook(client, *signed(event("checkout.session.completed", paid_session(topup))))
        assert answer.status_code == 200
    drain()

    assert tasks_started().get(BATCH_TASK, 0) - before == len(topups)
    assert set(TopUp.objects.values_list("status", flat=True)) == {"credited"}
