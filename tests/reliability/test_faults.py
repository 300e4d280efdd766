"""Faults injected for real into running processes: Redis stopped or hung, PostgreSQL
restarted under load, a Celery worker killed mid-batch, a web worker killed before answering.
Each is bounded in time and each ends with the money checked: every payment credited once, the
ledger verified, nothing half-written.

The other named faults live beside their features: a Celery worker killed mid-SMS in
test_worker_crash.py, the gateway down at checkout in tests/topups/test_stripe_checkout.py,
certificate storage failing in tests/tickets/test_ticket_pages.py.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import requests
from django.db import connection
from django.utils import timezone
from djmoney.money import Money

from accounts.alerts import set_alert
from accounts.ledger import post_ledger_entry
from accounts.models import AlertRecipient, BalanceAlert, LedgerEntry, OutboundEmail, OutboundSms
from accounts.usage_api.tokens import create_service_token
from accounts.verification import ledger_mismatches
from tests.conftest import require
from tests.draining import SentinelCeleryWorker, drain
from tests.factories import PendingTopUpFactory, UserFactory
from tests.fakes.stripe import event, paid_session, signed
from tests.helpers import transport_of
from tests.reliability.processes import (
    ROOT,
    Gunicorn,
    PostgresCluster,
    RedisServer,
    service_env,
    wait_until,
)
from topups.models import TopUp, WebhookDelivery

STRIPE_SECRET = "whsec_faults"
PASSWORD = "secret-pass-123"  # tests.factories.UserFactory's
# The longest any single request may take while a dependency is away: a connection timeout
# and a retry, never "until it comes back".
REQUEST_BOUND_SECONDS = 20


def stripe_env(**extra) -> dict[str, str]:
    return {"STRIPE_SECRET_KEY": "sk_test_faults", "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET, **extra}


def notify(base_url: str, topup, *, payload: dict | None = None, timeout: float = 60) -> requests.Response:
    """Stripe's checkout.session.completed for `topup` (or `payload`, when Stripe retries an
    event), signed now, as Stripe sends it."""
    payload = payload or event("checkout.session.completed", paid_session(topup))
    body, signature = signed(payload, secret=STRIPE_SECRET)
    return requests.post(
        f"{base_url}/webhooks/stripe/",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        timeout=timeout,
    )


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def credits_of(topup) -> int:
    return LedgerEntry.objects.filter(kind="online_topup", source_ref=topup.ledger_source_ref).count()


# --- Redis stopped, and Redis hung ---------------------------------------------------------


def alerting_customer(index: int):
    """A prepaid customer at 150 USD, alerted below 100 USD by SMS, with a 50 USD top-up pending."""
    user = UserFactory(username=f"outage{index}", email=f"outage{index}@example.com")
    account = user.account
    post_ledger_entry(
        account_id=account.pk, amount=Money("150.00", "USD"), kind="adjustment", source_ref=f"opening:{index}"
    )
    AlertRecipient.objects.create(
        account=account, kind="sms", address=f"+86138001380{index:02d}", confirmed_at=timezone.now()
    )
    set_alert(account_id=account.pk, enabled=True, threshold=Decimal("100.00"), actor=None)
    topup = PendingTopUpFactory(account=account, created_by=user, amount=Money("50.00", "USD"))
    TopUp.objects.filter(pk=topup.pk).update(credit_amount=Money("50.00", "USD"), gateway_session_id=f"cs_out_{index}")
    topup.refresh_from_db()
    return user, topup


def sent_emails(folder: Path) -> int:
    """Django's file backend writes each message followed by a line of 79 dashes."""
    return sum(path.read_text().count("\n" + "-" * 79) for path in folder.glob("*.log"))


def sent_sms(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("fault", ["stopped", "hung"])
def test_with_redis_stopped_or_hung_pages_and_webhooks_answer_in_bounded_time_and_nothing_is_lost_or_doubled(
    database_url, tmp_path, fault
):
    customers = [alerting_customer(i) for i in range(4)]
    _, token = create_service_token(service="metering", name="Metering")
    mail_dir, sms_file = tmp_path / "mail", tmp_path / "sms.jsonl"
    mail_dir.mkdir()
    with RedisServer() as redis:
        env = service_env(
            database_url=database_url,
            broker_url=redis.url,
            redis_url=redis.url,
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=str(mail_dir),
            SMS_BACKEND="accounts.sms.file.FileBackend",
            SMS_FILE_PATH=str(sms_file),
            **stripe_env(),
        )
        with Gunicorn(env, workers=2, threads=2) as web, SentinelCeleryWorker(env) as worker:
            redis.stop() if fault == "stopped" else redis.signal(signal.SIGSTOP)

            # While Redis is away: credits, charges that cross the alert threshold, sign-in, pages.
            timings = []
            for user, topup in customers:
                answer, seconds = timed(lambda topup=topup: notify(web.url, topup))
                assert answer.status_code == 200, answer.text
                timings.append(seconds)
                charge = {
                    "account": user.account_id,
                    "amount": "150.00",
                    "currency": "USD",
                    "idempotency_key": f"c{user.pk}",
                }
                answer, seconds = timed(
                    lambda charge=charge: requests.post(
                        f"{web.url}/api/v1/charges", json=charge, headers={"Authorization": f"Bearer {token}"}
                    )
                )
                assert answer.status_code == 201, answer.text
                timings.append(seconds)
            browser = requests.Session()
            browser.get(f"{web.url}/login/")
            answer, seconds = timed(
                lambda: browser.post(
                    f"{web.url}/login/",
                    data={
                        "username": "outage0",
                        "password": PASSWORD,
                        "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                    },
                    headers={"Referer": f"{web.url}/login/"},
                )
            )
            timings.append(seconds)
            assert answer.status_code == 200 and "/billing/" in answer.url, answer.url
            for page in ("/billing/", "/billing/pay/", "/billing/topups/", "/billing/alerts/"):
                answer, seconds = timed(lambda page=page: browser.get(f"{web.url}{page}"))
                assert answer.status_code == 200, (page, answer.status_code)
                timings.append(seconds)
            health, seconds = timed(lambda: requests.get(f"{web.url}/healthz"))
            timings.append(seconds)
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            assert health.json()["broker"]["ok"] is False
            assert max(timings) < REQUEST_BOUND_SECONDS, timings
            # Charges moved money at once; the payments are stored, waiting for a worker to credit them.
            stored = WebhookDelivery.objects.filter(topup__isnull=True, verdict="received")
            assert stored.count() == len(customers)
            assert not any(credits_of(topup) for _, topup in customers)
            assert not BalanceAlert.objects.exists()  # the checks could not be handed over

            # Redis is back (a stopped Redis comes back empty: it keeps nothing on disk).
            redis.start() if fault == "stopped" else redis.signal(signal.SIGCONT)
            publish_sweeps(redis.url)
            wait_until(
                lambda: sent_emails(mail_dir) == len(customers) and len(sent_sms(sms_file)) == len(customers),
                timeout=60,
                what=f"the receipts and alerts after Redis came back (worker log {worker.log_path})",
            )
            publish_sweeps(redis.url)  # a second pass finds nothing left to send or credit
            drain(broker_url=redis.url, what=f"the worker (log {worker.log_path})")
            assert all(credits_of(topup) == 1 for _, topup in customers)

    assert sent_emails(mail_dir) == len(customers)
    texts = sent_sms(sms_file)
    assert sorted(sms["to"] for sms in texts) == sorted(c[0].account.alert_recipients.get().address for c in customers)
    assert Counter(BalanceAlert.objects.values_list("account", flat=True)) == {u.account_id: 1 for u, _ in customers}
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"sent"}
    assert set(OutboundSms.objects.values_list("status", flat=True)) == {"sent"}
    assert ledger_mismatches() == []
    print(f"redis {fault}: {len(timings)} requests during the outage, slowest {max(timings):.2f} s")


def publish_sweeps(broker_url: str) -> None:
    """What beat does every few minutes, at once: find due alerts, resend what was not handed over."""
    from billing_center.celery import app

    with app.connection_for_write(broker_url, transport=transport_of(broker_url)) as conn:
        app.send_task("accounts.tasks.sweep_balance_alerts", connection=conn)
        app.send_task("accounts.tasks.resend_pending_emails", kwargs={"older_than_seconds": 0}, connection=conn)
        app.send_task("accounts.tasks.resend_pending_sms", kwargs={"older_than_seconds": 5}, connection=conn)
        app.send_task("topups.tasks.sweep_deliveries", kwargs={"older_than_seconds": 0}, connection=conn)


# --- A Celery worker killed mid-batch, and a web worker killed before answering ------------------

GATE = 4242  # the advisory lock key the gate trigger waits on


class LedgerInsertGate:
    """Holds every credit just after its ledger rows are inserted, before its transaction commits.

    A real database-side pause: an AFTER INSERT trigger on the ledger waits for an advisory
    lock this test holds. Our code runs unmodified up to that point.
    """

    def __enter__(self):
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE FUNCTION gate_ledger() RETURNS trigger AS $$ BEGIN PERFORM pg_advisory_xact_lock({GATE}); "
                "RETURN NEW; END; $$ LANGUAGE plpgsql; CREATE TRIGGER gate_ledger AFTER INSERT ON "
                "accounts_ledgerentry FOR EACH ROW EXECUTE FUNCTION gate_ledger();"
            )
            cursor.execute("SELECT pg_advisory_lock(%s)", [GATE])
        return self

    def waiting_backends(self) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
            return [pid for (pid,) in cursor.fetchall()]

    def release(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")

    def __exit__(self, *exc):
        self.release()
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER gate_ledger ON accounts_ledgerentry; DROP FUNCTION gate_ledger();")


def backend_gone(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 0


def pending_topup(session_id: str, amount: str = "80.00"):
    user = UserFactory(email=f"{session_id}@example.com")  # a credit e-mails its receipt
    topup = PendingTopUpFactory(account=user.account, created_by=user, amount=Money(amount, "USD"))
    TopUp.objects.filter(pk=topup.pk).update(credit_amount=Money(amount, "USD"), gateway_session_id=session_id)
    topup.refresh_from_db()
    return topup


def send_in_background(base_url: str, topup, payload: dict) -> tuple[threading.Thread, dict]:
    answer: dict = {}

    def send():
        try:
            answer["status"] = notify(base_url, topup, payload=payload).status_code
        except requests.ConnectionError as exc:
            answer["error"] = exc

    thread = threading.Thread(target=send)
    thread.start()
    return thread, answer


def test_a_worker_killed_mid_batch_between_ledger_insert_and_commit_credits_nothing_and_after_restart_once(
    database_url,
):
    topups = [pending_topup(f"cs_kill_mid_batch_{i}", amount=f"{20 + i}.50") for i in range(5)]
    with RedisServer() as redis:
        env = service_env(database_url=database_url, broker_url=redis.url, **stripe_env())
        with Gunicorn(env, workers=1) as web, LedgerInsertGate() as gate:
            answers = [notify(web.url, topup) for topup in topups]  # stored before any worker runs
            assert [a.json()["verdict"] for a in answers] == ["received"] * len(topups)
            worker = SentinelCeleryWorker(env)
            worker.start()
            wait_until(lambda: gate.waiting_backends(), timeout=30, what="the batch to reach the gate")
            (backend,) = gate.waiting_backends()
            assert not any(credits_of(topup) for topup in topups)  # inserted, not committed

            worker.signal(signal.SIGKILL)  # the worker and its pool, mid-batch
            worker.popen.wait(30)
            gate.release()
            wait_until(lambda: backend_gone(backend), timeout=30, what="the orphaned transaction to end")
            assert not any(credits_of(topup) for topup in topups)
            verdicts = WebhookDelivery.objects.values_list("verdict", flat=True)
            assert list(verdicts) == ["received"] * len(topups)  # still stored, still waiting

            with SentinelCeleryWorker(env) as restarted:
                publish_sweeps(redis.url)  # beat's sweep: the killed task's message is not back yet
                wait_until(
                    lambda: all(credits_of(topup) == 1 for topup in topups),
                    timeout=60,
                    what=f"the restarted worker to credit (log {restarted.log_path})",
                )
                publish_sweeps(redis.url)  # a second sweep finds nothing waiting
                drain(broker_url=redis.url, what=f"the restarted worker (log {restarted.log_path})")

    assert all(credits_of(topup) == 1 for topup in topups)
    assert set(TopUp.objects.values_list("status", flat=True)) == {"credited"}
    assert set(WebhookDelivery.objects.values_list("verdict", flat=True)) == {"credited"}
    assert ledger_mismatches() == []


def test_a_web_worker_killed_after_storing_before_answering_is_retried_and_credited_once(database_url):
    """After the commit, the work is handed to the broker; a hung Redis holds the web worker
    there (for at most the socket timeout) while we kill it: stored, never answered."""
    topup = pending_topup("cs_kill_after_commit")
    payload = event("checkout.session.completed", paid_session(topup))  # one event, sent again
    with RedisServer() as redis:
        env = service_env(database_url=database_url, broker_url=redis.url, **stripe_env())
        with Gunicorn(env, workers=1) as web:
            (web_pid,) = web.worker_pids()
            redis.signal(signal.SIGSTOP)
            thread, answer = send_in_background(web.url, topup, payload)
            wait_until(lambda: WebhookDelivery.objects.exists(), timeout=30, what="the delivery to be stored")

            os.kill(web_pid, signal.SIGKILL)
            thread.join(30)
            assert "error" in answer, answer  # stored, but the gateway never heard back
            redis.signal(signal.SIGCONT)
            wait_until(lambda: len(web.worker_pids()) == 1, timeout=30, what="gunicorn to replace its worker")
            retry = notify(web.url, topup, payload=payload)
            with SentinelCeleryWorker(env) as worker:
                wait_until(lambda: credits_of(topup) == 1, timeout=60, what=f"the credit (log {worker.log_path})")
                drain(broker_url=redis.url, what=f"the worker (log {worker.log_path})")

    assert retry.status_code == 200 and retry.json()["verdict"] == "received"
    assert credits_of(topup) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.verdict == "credited" and delivery.delivery_count == 2
    assert OutboundEmail.objects.count() == 1
    assert ledger_mismatches() == []


# --- PostgreSQL restarted under load ---------------------------------------------------------


def test_postgresql_restarted_under_load_webhooks_answer_5xx_meanwhile_and_every_payment_is_credited_once(
    database_url, tmp_path
):
    require(PostgresCluster.available(), "PostgreSQL's server binaries (initdb, pg_ctl)")
    topups = [pending_topup(f"cs_restart_{i}", amount=f"{10 + i}.25") for i in range(60)]
    cluster, redis = PostgresCluster(), RedisServer()
    try:
        cluster.create()
        cluster.copy_database(database_url, "billing")  # our schema, trigger and these rows
        mail_dir = tmp_path / "mail"
        mail_dir.mkdir()
        redis.start()
        env = service_env(
            database_url=cluster.url("billing"),
            broker_url=redis.url,
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=str(mail_dir),
            **stripe_env(),
        )
        answers, slowest, lock = Counter(), [0.0], threading.Lock()

        def gateway(share):
            """Stripe's behaviour: a delivery that is not answered 2xx is sent again later."""
            for topup in share:
                payload = event("checkout.session.completed", paid_session(topup))  # one event, retried
                for _attempt in range(200):
                    try:
                        response, seconds = timed(lambda t=topup, p=payload: notify(web.url, t, payload=p, timeout=30))
                        status = response.status_code
                    except requests.ConnectionError:
                        status, seconds = "refused", 0.0
                    with lock:
                        answers[status] += 1
                        slowest[0] = max(slowest[0], seconds)
                    if status == 200:
                        break
                    time.sleep(0.2)
                time.sleep(0.2)  # a steady stream, so the outage always falls inside the load

        with Gunicorn(env, workers=2, threads=2) as web, SentinelCeleryWorker(env) as worker:
            senders = [threading.Thread(target=gateway, args=(topups[i::4],)) for i in range(4)]
            for sender in senders:
                sender.start()
            wait_until(lambda: answers[200] >= 15, timeout=60, what="the load to get going")
            cluster.stop()
            time.sleep(3)
            cluster.start()
            for sender in senders:
                sender.join(120)
            # The worker reconnects too: every stored delivery is credited and every receipt goes
            # out, what failed during the outage with the next sweep (beat's, here every 2 s).
            wait_until(
                lambda: sent_emails(mail_dir) == len(topups) or publish_sweeps(redis.url),
                timeout=120,
                every=2,
                what=f"every credit and receipt after the restart (worker log {worker.log_path})",
            )
            # Everything handed to the worker has run, retries held since the outage included:
            # a duplicate receipt would be in the mail folder now.
            drain(broker_url=redis.url, timeout=120, what=f"the worker (log {worker.log_path})")
            verify = subprocess.run(
                [sys.executable, "manage.py", "verify_ledger"], env=env, cwd=ROOT, capture_output=True, text=True
            )

        assert any(isinstance(s, int) and s >= 500 for s in answers), f"no 5xx while PostgreSQL was down: {answers}"
        assert answers[200] == len(topups), answers  # every payment acknowledged once it was stored
        assert not {s for s in answers if isinstance(s, int) and 400 <= s < 500}, answers
        assert slowest[0] < REQUEST_BOUND_SECONDS, slowest
        assert verify.returncode == 0, verify.stderr
        with psycopg.connect(cluster.url("billing")) as db, db.cursor() as cursor:
            cursor.execute(
                "SELECT source_ref, count(*) FROM accounts_ledgerentry WHERE kind = 'online_topup' GROUP BY 1"
            )
            credits = dict(cursor.fetchall())
            cursor.execute("SELECT status, count(*) FROM topups_topup GROUP BY 1")
            statuses = dict(cursor.fetchall())
            cursor.execute("SELECT verdict, count(*) FROM topups_webhookdelivery GROUP BY 1")
            verdicts = dict(cursor.fetchall())
            cursor.execute("SELECT status, count(*) FROM accounts_outboundemail GROUP BY 1")
            emails = dict(cursor.fetchall())
        assert credits == {t.ledger_source_ref: 1 for t in topups}
        assert statuses == {"credited": len(topups)}
        assert verdicts == {"credited": len(topups)}, verdicts  # none left half-processed
        assert emails == {"sent": len(topups)} and sent_emails(mail_dir) == len(topups)
        print(f"postgresql restart: answers {dict(answers)}, slowest {slowest[0]:.2f} s")
    finally:
        redis.stop()
        cluster.destroy()
