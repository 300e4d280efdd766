"""Alerts end to end on real parts: concurrent debits on PostgreSQL, a real Celery worker on
the real broker (Redis in CI, no eager mode), and the broker going away."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from accounts.alerts import set_alert
from accounts.ledger import post_ledger_entry
from accounts.models import Account, AlertRecipient, BalanceAlert, OutboundSms
from accounts.sms import memory
from accounts.usage_api.charges import ChargeRequest, post_usage_charges
from tests.concurrency.test_races import race
from tests.conftest import wait_for
from tests.draining import drain
from tests.factories import PrepaidAccountFactory
from tests.helpers import switch_broker

NUMBER = "+8613800138000"


@pytest.fixture(autouse=True)
def empty_sms_outbox():
    memory.outbox.clear()


def alerting_account(balance="100.00", threshold="50.00") -> Account:
    account = PrepaidAccountFactory(balance=Money(0, "USD"))
    post_ledger_entry(
        account_id=account.pk, amount=Money(balance, "USD"), kind="adjustment", source_ref=f"seed:{account.pk}"
    )
    AlertRecipient.objects.create(account=account, kind="sms", address=NUMBER, confirmed_at=timezone.now())
    set_alert(account_id=account.pk, enabled=True, threshold=Decimal(threshold), actor=None)
    return account


def charge(account, key: str, amount="5.00"):
    return post_usage_charges(
        service="metering", requests=[ChargeRequest(account.pk, Money(amount, "USD"), key, "test usage")]
    )[0]


def alert_sms_sent(account) -> int:
    return OutboundSms.objects.filter(account=account, alert__isnull=False, status="sent").count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_debits_cross_once_and_a_real_worker_sends_one_sms_then_one_more(celery_worker):
    account = alerting_account()
    results = race([lambda i=i: charge(account, f"r1-{i}") for i in range(20)])
    assert [r.outcome for r in results] == ["created"] * 20
    account.refresh_from_db()
    assert account.balance == Money("0.00", "USD")

    assert wait_for(lambda: alert_sms_sent(account) == 1)
    drain()  # every check the debits published has run, and whatever those published
    assert alert_sms_sent(account) == 1 and len(memory.outbox) == 1
    assert OutboundSms.objects.filter(account=account).count() == 1
    assert BalanceAlert.objects.filter(account=account).count() == 1

    # A top-up re-arms it; the next crossing (a day later) sends exactly one more.
    post_ledger_entry(account_id=account.pk, amount=Money("100.00", "USD"), kind="adjustment", source_ref="topup")
    Account.objects.filter(pk=account.pk).update(last_alert_at=timezone.now() - timedelta(hours=25))
    race([lambda i=i: charge(account, f"r2-{i}") for i in range(20)])
    assert wait_for(lambda: alert_sms_sent(account) == 2)
    drain()
    assert alert_sms_sent(account) == 2 and len(memory.outbox) == 2
    assert OutboundSms.objects.filter(account=account).count() == 2
    assert BalanceAlert.objects.filter(account=account).count() == 2
    assert "below your alert threshold of 50.00 USD" in memory.outbox[-1]["text"]


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_debits_succeed_fast_and_alerts_go_out_once_it_is_back(request):
    from accounts.tasks import resend_pending_sms, sweep_balance_alerts

    account = alerting_account()
    before = switch_broker("redis://127.0.0.1:1/0")  # nothing listens on port 1: the broker is down
    try:
        started = time.monotonic()
        for i in range(12):
            assert charge(account, f"down-{i}").outcome == "created"
        elapsed = time.monotonic() - started
    finally:
        switch_broker(*before)  # and resets the breaker: this process would wait 30 s before trying again
    # One publish pays the connection timeout; the rest skip the broker and leave the work to the sweeps.
    assert elapsed < 8, f"12 debits took {elapsed:.1f}s with the broker down"
    account.refresh_from_db()
    assert account.balance == Money("40.00", "USD")
    assert not OutboundSms.objects.exists()  # the check task never reached a worker

    request.getfixturevalue("celery_worker")  # the broker is back, and a worker with it
    sweep_balance_alerts.delay()
    assert wait_for(lambda: OutboundSms.objects.filter(alert__isnull=False).exists())
    resend_pending_sms.delay()
    assert wait_for(lambda: alert_sms_sent(account) == 1)
    sweep_balance_alerts.delay()
    resend_pending_sms.delay()
    drain()  # both second passes have run, and whatever they published
    assert alert_sms_sent(account) == 1 and len(memory.outbox) == 1
    assert OutboundSms.objects.count() == 1 and BalanceAlert.objects.count() == 1
