"""Workers woken once per burst (topups.wake), over real HTTP, gunicorn, Redis and a Celery worker:
far fewer batch tasks than deliveries, and still every delivery credited once without a sweep;
a lost publish strands nothing past the wake flag's timeout, or past the sweep."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.conf import settings
from djmoney.money import Money

from accounts.models import LedgerEntry
from billing_center.celery import app
from tests.draining import SentinelCeleryWorker, drain, tasks_started
from tests.factories import PendingTopUpFactory, UserFactory
from tests.fakes.stripe import event, paid_session, signed
from tests.helpers import transport_of
from tests.reliability.processes import Gunicorn, RedisServer, service_env, wait_until
from topups.batches import BATCH_SIZE
from topups.models import TopUp, WebhookDelivery

STRIPE_SECRET = "whsec_wake"
BATCH_TASK = "topups.tasks.apply_deliveries"
SENDERS = 8


def payments(count: int, *, accounts: int = 10) -> list[TopUp]:
    payers = [UserFactory() for _ in range(accounts)]
    made = []
    for i in range(count):
        payer = payers[i % accounts]
        amount = Money(f"{10 + i % 50}.25", "USD")
        made.append(PendingTopUpFactory(account=payer.account, created_by=payer, amount=amount))
    return made


def environment(database_url: str, redis: RedisServer, cache: str = "file") -> dict[str, str]:
    """Our processes on a private broker, sharing a cache: the test run's folder, or Redis."""
    redis_url = f"redis://127.0.0.1:{redis.port}/1" if cache == "redis" else ""
    return service_env(
        database_url=database_url,
        broker_url=redis.url,
        redis_url=redis_url,
        STRIPE_SECRET_KEY="sk_test_wake",
        STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
    )


def notify(session: requests.Session, base_url: str, topup: TopUp) -> None:
    body, signature = signed(event("checkout.session.completed", paid_session(topup)), secret=STRIPE_SECRET)
    answer = session.post(
        f"{base_url}/webhooks/stripe/",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["verdict"] == "received"


def send_all(base_url: str, topups: list[TopUp]) -> float:
    """Every payment's notification, SENDERS at a time over keep-alive connections; seconds taken."""
    local = threading.local()

    def send(topup: TopUp) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        notify(local.session, base_url, topup)

    started = time.monotonic()
    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(send, topups))  # a failed send raises here
    return time.monotonic() - started


def credits_of(topups: list[TopUp]) -> dict[str, int]:
    refs = [topup.ledger_source_ref for topup in topups]
    counts = dict.fromkeys(refs, 0)
    entries = LedgerEntry.objects.filter(kind="online_topup", source_ref__in=refs)
    for ref in entries.values_list("source_ref", flat=True):
        counts[ref] += 1
    return counts


def all_credited(topups: list[TopUp]) -> bool:
    return TopUp.objects.filter(pk__in=[t.pk for t in topups], status=TopUp.Status.CREDITED).count() == len(topups)


def batch_tasks_started(broker_url: str) -> int:
    return tasks_started(broker_url=broker_url).get(BATCH_TASK, 0)


def lose_queued_tasks(broker_url: str) -> None:
    """The broker loses what is queued (a purge, as a Redis that keeps nothing would on restart)."""
    with app.connection_for_write(broker_url, transport=transport_of(broker_url)) as connection:
        queue = app.amqp.queues[app.conf.task_default_queue].bind(connection.default_channel)
        queue.declare()
        queue.purge()


def publish_sweep(broker_url: str) -> None:
    with app.connection_for_write(broker_url, transport=transport_of(broker_url)) as connection:
        app.send_task("topups.tasks.sweep_deliveries", kwargs={"older_than_seconds": 0}, connection=connection)


@pytest.mark.parametrize("cache", ["file", "redis"])
def test_a_burst_stored_while_its_task_waits_publishes_a_few_tasks_and_every_payment_is_credited_once(
    database_url, cache
):
    """No worker runs while 400 deliveries come in: the first one's task waits in the queue and
    the others count on it. One worker then credits them all, with no sweep."""
    topups = payments(400)
    with RedisServer() as redis:
        env = environment(database_url, redis, cache)
        with Gunicorn(env, workers=2, threads=4) as web:
            seconds = send_all(web.url, topups)
            assert WebhookDelivery.objects.filter(verdict="received").count() == len(topups)
            with SentinelCeleryWorker(env) as worker:
                wait_until(lambda: all_credited(topups), timeout=120, what=f"the credits (log {worker.log_path})")
                drain(broker_url=redis.url, what=f"the worker (log {worker.log_path})")
                started = batch_tasks_started(redis.url)

    # One task for the burst, another each time the flag's timeout ran out while it waited,
    # and a peer woken by each full batch.
    most = 1 + seconds / settings.DELIVERY_WAKE_SECONDS + len(topups) / BATCH_SIZE
    print(f"\n{cache} cache: {len(topups)} deliveries in {seconds:.1f} s, {started} batch tasks")
    assert 1 <= started <= most, (started, seconds)
    assert set(credits_of(topups).values()) == {1}
    assert set(WebhookDelivery.objects.values_list("verdict", flat=True)) == {"credited"}


def test_a_burst_while_a_worker_credits_is_credited_once_without_a_sweep(database_url):
    """Deliveries keep coming while the worker claims: each one stored after a task cleared the
    flag wakes the next, and nothing is left waiting when the burst ends."""
    topups = payments(400)
    with RedisServer() as redis:
        env = environment(database_url, redis)
        with Gunicorn(env, workers=2, threads=4) as web, SentinelCeleryWorker(env) as worker:
            send_all(web.url, topups)
            wait_until(lambda: all_credited(topups), timeout=120, what=f"the credits (log {worker.log_path})")
            drain(broker_url=redis.url, what=f"the worker (log {worker.log_path})")
            started = batch_tasks_started(redis.url)

    print(f"\n{len(topups)} deliveries while a worker credits: {started} batch tasks")
    assert started < len(topups) / 2
    assert set(credits_of(topups).values()) == {1}
    assert set(WebhookDelivery.objects.values_list("verdict", flat=True)) == {"credited"}


@pytest.mark.parametrize("healed_by", ["the flag's timeout", "the sweep"])
def test_a_lost_batch_task_strands_nothing_past_the_wake_flags_timeout_or_the_sweep(database_url, healed_by):
    """The first delivery's task is lost from the broker; the second, stored while its flag
    stands, publishes nothing. The next delivery after the flag's timeout, or the sweep, has
    them credited."""
    first, second, third = payments(3, accounts=3)
    with RedisServer() as redis:
        env = environment(database_url, redis)
        with Gunicorn(env, workers=1) as web, requests.Session() as session:
            notify(session, web.url, first)
            lose_queued_tasks(redis.url)
            notify(session, web.url, second)
            with SentinelCeleryWorker(env) as worker:
                if healed_by == "the sweep":
                    publish_sweep(redis.url)
                    topups = [first, second]
                else:
                    time.sleep(settings.DELIVERY_WAKE_SECONDS)  # the flag runs out
                    notify(session, web.url, third)
                    topups = [first, second, third]
                wait_until(lambda: all_credited(topups), timeout=60, what=f"the credits (log {worker.log_path})")
                drain(broker_url=redis.url, what=f"the worker (log {worker.log_path})")

    assert set(credits_of(topups).values()) == {1}
