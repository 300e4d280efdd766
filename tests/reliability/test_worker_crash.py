"""Issue #6: a Celery worker killed while sending an alert SMS.

Real parts on loopback: a private Redis broker, Celery worker processes on the PostgreSQL
test database, and a fake Twilio over real HTTP that holds the SMS request so the worker
can be killed with its POST in flight. Late acknowledgement brings the task back, the
outbox claim lease lets it send again, and the one duplicate this allows (the held request
may or may not have reached Twilio) is counted, not hidden.
"""

import os
import re
import shutil
import signal
import time
from decimal import Decimal

import pytest
import redis as redis_py
from django.utils import timezone
from djmoney.money import Money

from accounts.alerts import set_alert
from accounts.ledger import post_ledger_entry
from accounts.models import Account, AlertRecipient, BalanceAlert, OutboundSms
from tests.conftest import require, wait_for
from tests.factories import PrepaidAccountFactory
from tests.fakes.twilio_server import FakeTwilioServer
from tests.helpers import switch_broker
from tests.reliability.processes import CeleryWorker, RedisServer, children, service_env, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NUMBER = "+8613800138000"
VISIBILITY_TIMEOUT = 4  # seconds before Redis hands an unacknowledged task to another worker
CLAIM_LEASE = 3  # seconds before the outbox takes a claim over; shorter, so a redelivery can send
# A prefork parent notices a dead child at once or at its next 5-second pool check; with a
# longer lease the requeued task always meets the fresh claim, as with production's 120 s.
PREFORK_CLAIM_LEASE = 8
WAIT = 30


class PreforkWorker(CeleryWorker):
    """One pool child, so killing it loses exactly the task it runs."""

    def __init__(self, env: dict[str, str]):
        super().__init__(env, pool="prefork")
        self.argv += ["--concurrency", "1"]

    def pool_child(self) -> int:
        wait_until(lambda: len(children(self.pid)) == 1, timeout=WAIT, what="the prefork pool child")
        return children(self.pid)[0]


@pytest.fixture
def broker():
    require(bool(shutil.which("redis-server")), "redis-server")
    with RedisServer() as server:
        yield server


@pytest.fixture
def publishing(broker):
    """This process publishes its tasks (after each commit) to the private Redis, then back to the usual broker."""
    before = switch_broker(broker.url, {"socket_connect_timeout": 3, "socket_timeout": 5, "max_retries": 2})
    yield
    switch_broker(*before)


@pytest.fixture
def twilio():
    with FakeTwilioServer() as fake:
        yield fake


@pytest.fixture
def workers(broker, twilio, database_url):
    """start(cls, lease=...) runs a worker on the private broker and the fake Twilio; all stop at teardown."""
    started = []

    def start(cls=CeleryWorker, *, lease: int = CLAIM_LEASE):
        env = service_env(
            database_url=database_url,
            broker_url=broker.url,
            redis_url="",
            CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
            OUTBOX_CLAIM_LEASE_SECONDS=str(lease),
            **twilio.configure_env(),
        )
        worker = cls(env)
        started.append(worker)
        worker.start()
        return worker

    yield start
    twilio.release()  # a worker stuck in a held request would not stop on SIGTERM
    for worker in started:
        worker.stop()


def alerting_account() -> Account:
    """100 USD, a confirmed SMS recipient, and an armed alert at 50 USD."""
    account = PrepaidAccountFactory(balance=Money(0, "USD"))
    post_ledger_entry(
        account_id=account.pk, amount=Money("100.00", "USD"), kind="adjustment", source_ref=f"seed:{account.pk}"
    )
    AlertRecipient.objects.create(account=account, kind="sms", address=NUMBER, confirmed_at=timezone.now())
    set_alert(account_id=account.pk, enabled=True, threshold=Decimal("50.00"), actor=None)
    return account


def cross_threshold(account: Account) -> None:
    post_ledger_entry(account_id=account.pk, amount=Money("-60.00", "USD"), kind="usage", source_ref="usage:crash")


def broker_idle(broker: RedisServer) -> bool:
    """Nothing waiting in the queue and nothing delivered but unacknowledged."""
    client = redis_py.Redis.from_url(broker.url)
    try:
        return client.llen("celery") == 0 and client.hlen("unacked") == 0
    finally:
        client.close()


def delivered_at(broker: RedisServer) -> float:
    """When Redis handed out the one unacknowledged task (its score in kombu's unacked index)."""
    client = redis_py.Redis.from_url(broker.url)
    try:
        [(_, score)] = client.zrange("unacked_index", 0, -1, withscores=True)
        return score
    finally:
        client.close()


def times_received(worker: CeleryWorker, task: str) -> int:
    return len(re.findall(rf"accounts\.tasks\.{task}\[\S+\] received", worker.log()))


def sms_rows(account: Account) -> list[OutboundSms]:
    return list(OutboundSms.objects.filter(account=account))


def sent_once(account: Account) -> bool:
    return [sms.status for sms in sms_rows(account)] == ["sent"]


def assert_one_crossing_sent_once(account: Account, twilio: FakeTwilioServer, *, variant: str, took: float) -> None:
    """One alert, one SMS row sent, and at most one duplicate at Twilio (the held request)."""
    [alert] = BalanceAlert.objects.filter(account=account)
    [sms] = sms_rows(account)
    account.refresh_from_db()
    assert (alert.crossing, account.alert_crossings, account.alert_armed) == (1, 1, False)
    assert sms.status == "sent" and sms.alert_id == alert.pk and sms.attempts == 2
    posts = [r for r in twilio.requests if r["form"].get("Body") == alert.text]
    duplicates = len(posts) - 1
    figures = (
        f"{variant}: Twilio got the alert {len(posts)}x ({duplicates} duplicate), again {took:.1f} s after the kill"
    )
    print(figures)
    assert 1 <= len(posts) <= 2 and duplicates <= 1, figures
    assert sms.provider_message_id == twilio.resources[-1]["sid"], figures
    # Both tries carried the alert's key, so a provider that honours it can drop the duplicate.
    assert {r["headers"]["I-Twilio-Idempotency-Token"] for r in posts} == {sms.dedupe_key}


def test_worker_killed_mid_send_the_alert_is_redelivered_and_sent_once(publishing, broker, twilio, workers):
    account = alerting_account()
    twilio.hold_next()
    first = workers()
    cross_threshold(account)  # check_balance_alert -> queue_sms -> send_sms, all in the worker

    wait_until(lambda: len(twilio.requests) == 1, timeout=WAIT, what="the alert's POST to reach Twilio")
    assert [sms.status for sms in sms_rows(account)] == ["sending"]
    first.signal(signal.SIGKILL)  # the whole process group, in the middle of the HTTP call
    first.popen.wait(10)
    killed = time.monotonic()
    assert not broker_idle(broker)  # the task is still Redis's, unacknowledged

    # A worker restores expired unacknowledged tasks when it starts polling, then only every
    # unacked_restore_interval x unacked_restore_throttle (100 s): start it after the expiry.
    time.sleep(max(0.0, delivered_at(broker) + VISIBILITY_TIMEOUT + 0.5 - time.time()))
    workers()
    wait_until(lambda: len(twilio.requests) == 2, timeout=WAIT, what="the redelivered task to call Twilio")
    redelivered = time.monotonic() - killed
    wait_until(lambda: sent_once(account), timeout=WAIT, what="the redelivered alert SMS to be sent")
    wait_until(lambda: broker_idle(broker), timeout=WAIT, what="the redelivered task to be acknowledged")

    assert_one_crossing_sent_once(account, twilio, variant="worker killed", took=redelivered)


def test_pool_child_killed_mid_send_the_task_is_requeued_and_sent_after_the_lease(publishing, broker, twilio, workers):
    account = alerting_account()
    twilio.hold_next()
    worker = workers(PreforkWorker, lease=PREFORK_CLAIM_LEASE)
    child = worker.pool_child()
    cross_threshold(account)

    wait_until(lambda: len(twilio.requests) == 1, timeout=WAIT, what="the alert's POST to reach Twilio")
    assert [sms.status for sms in sms_rows(account)] == ["sending"]
    os.kill(child, signal.SIGKILL)  # the parent lives on and, with task_reject_on_worker_lost, requeues at once
    killed = time.monotonic()
    assert wait_for(lambda: times_received(worker, "send_sms") >= 2, timeout=WAIT), worker.log()[-3000:]

    until = killed + PREFORK_CLAIM_LEASE + 10 - time.monotonic()  # the lease, then the retry's countdown
    wait_until(lambda: len(twilio.requests) == 2, timeout=until, what="the requeued task to call Twilio")
    redelivered = time.monotonic() - killed
    wait_until(lambda: sent_once(account), timeout=WAIT, what="the requeued alert SMS to be sent")
    assert_one_crossing_sent_once(account, twilio, variant="pool child killed", took=redelivered)
