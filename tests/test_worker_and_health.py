"""A real Celery worker consumes the real broker (file broker locally, Redis in CI)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from djmoney.money import Money

from accounts.tasks import record_worker_heartbeat
from tests.conftest import wait_for
from tests.factories import PendingTopUpFactory
from topups.models import SandboxCheckout, TopUp
from topups.tasks import reconcile_pending_topups


@pytest.mark.django_db(transaction=True)
def test_the_beat_reconcile_task_credits_a_paid_topup_whose_notification_was_lost(celery_worker):
    topup = PendingTopUpFactory(gateway="sandbox", gateway_session_id="sbx_lost", amount=Money("25.00", "USD"))
    SandboxCheckout.objects.create(
        session_id="sbx_lost",
        reference=str(topup.public_id),
        account_ref=str(topup.account_id),
        description="lost notification",
        amount=topup.amount,
        success_url="/",
        cancel_url="/",
        status=SandboxCheckout.Status.PAID,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    TopUp.objects.filter(pk=topup.pk).update(created_at=timezone.now() - timedelta(minutes=30))

    reconcile_pending_topups.delay()

    assert wait_for(lambda: TopUp.objects.get(pk=topup.pk).status == TopUp.Status.CREDITED)
    topup.account.refresh_from_db()
    assert topup.account.balance == Money("25.00", "USD")


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_database_broker_and_a_live_worker(client, celery_worker):
    from django.core.cache import cache

    from billing_center.health import HEARTBEAT_KEY

    cache.delete(HEARTBEAT_KEY)
    assert client.get("/healthz").json()["worker"]["ok"] is False

    record_worker_heartbeat.delay()
    assert wait_for(lambda: client.get("/healthz").json()["worker"]["ok"])
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["broker"]["ok"]
