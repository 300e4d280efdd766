"""The product as a cluster, CI-sized, on production settings with CLUSTER=true: nginx ending TLS in
front of two gunicorn web nodes, each with its own working folder (no shared disk); two Celery
workers and two beats; PgBouncer in transaction mode in front of PostgreSQL; RabbitMQ; an
S3-compatible server (moto) for the certificates.

Before the storm: a certificate filed through node A is opened by finance through node B; the
client address and https come through the proxy (cluster_checks.check_the_proxy); an alert SMS
is held at the provider, its worker caught mid-send. Then the storm through the balancer (signed
notifications, usage charges, finance confirmations), during which that worker and then web node
A are SIGKILLed. Afterwards: every source credited once, balances exact, the SMS sent by the other
worker (its duplicate at the provider counted), every e-mail sent, each beat entry run once per
period, no 5xx, and no process left running. `make cluster` prints the figures; docs/deploy.md
describes the topology and records a run."""

import os
import signal
import threading
import time
from pathlib import Path

import boto3
from django.test import override_settings
from django.utils import timezone

from tests.conftest import require
from tests.fakes.twilio_server import FakeTwilioServer
from tests.reliability import cluster_checks as check
from tests.reliability import storm
from tests.reliability.processes import (
    BIN,
    CeleryWorker,
    Gunicorn,
    MotoServer,
    Nginx,
    PgBouncer,
    Process,
    service_env,
    stopped_at_exit,
)
from tests.reliability.test_worker_crash import alerting_account
from tests.tickets.conftest import SAMPLE_PDF

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
BUCKET = "billing-cluster"
S3_CREDENTIALS = {"aws_access_key_id": "moto", "aws_secret_access_key": "moto", "region_name": "us-east-1"}
# The nodes check passwords with production's hasher; the test process writes them with it too.
PRODUCTION_HASHER = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"])
KILL_WORKER_AT, KILL_NODE_AT = 1.0, 3.0  # seconds into the storm


def rabbitmq_answers() -> bool:
    import kombu

    try:
        kombu.Connection(RABBITMQ_URL, connect_timeout=3).ensure_connection(max_retries=1)
    except Exception:  # any failure: not there
        return False
    return True


def test_a_cluster_behind_nginx_survives_a_worker_and_a_web_node_killed_mid_storm(database_url, tmp_path, monkeypatch):
    for available, what in [
        (Nginx.available(), "Debian's nginx and openssl (apt-get install nginx)"),
        (PgBouncer.available(), "Debian's pgbouncer (apt-get install pgbouncer)"),
        (rabbitmq_answers(), f"RabbitMQ at {RABBITMQ_URL}"),
        (bool(os.environ.get("REDIS_URL")), "a shared cache (REDIS_URL=redis://...)"),
    ]:
        require(available, what)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import User
    from tests.factories import UserFactory
    from tests.tickets.conftest import usd_receiving_account
    from tickets.models import Certificate

    began = time.monotonic()
    with PRODUCTION_HASHER:
        plan = storm.prepare(storm.SMALL)
        reader = User.objects.create_user("reader", password=storm.FINANCE_PASSWORD, is_staff=True)
        reader.groups.add(plan.clerk.groups.get())
        customer, throttled = UserFactory(), UserFactory()
    reader_plan = type("Reader", (), {"clerk": reader})()
    reader_plan.device = TOTPDevice.objects.create(user=reader, name="reader", confirmed=True)
    bank, alerted = usd_receiving_account(), alerting_account()

    kills: list[check.Kill] = []
    with stopped_at_exit([]) as processes, FakeTwilioServer() as twilio:  # Twilio's holds released first
        s3 = MotoServer()
        processes.append(s3)
        s3.start()
        boto3.client("s3", endpoint_url=s3.url, **S3_CREDENTIALS).create_bucket(Bucket=BUCKET)
        bouncer = PgBouncer(database_url, pool_size=6)
        processes.append(bouncer)
        bouncer.start()

        def node_env(node: str) -> dict[str, str]:
            folder = tmp_path / node
            Path(folder).mkdir(exist_ok=True)
            return service_env(
                database_url=bouncer.url,
                broker_url=RABBITMQ_URL,
                redis_url=os.environ["REDIS_URL"],
                BILLING_VAR_DIR=str(folder),
                MEDIA_ROOT=str(folder / "media"),
                **check.production_env(
                    S3_BUCKET=BUCKET,
                    S3_ENDPOINT_URL=s3.url,
                    S3_REGION=S3_CREDENTIALS["region_name"],
                    S3_ACCESS_KEY_ID=S3_CREDENTIALS["aws_access_key_id"],
                    S3_SECRET_ACCESS_KEY=S3_CREDENTIALS["aws_secret_access_key"],
                    S3_ADDRESSING_STYLE="path",
                    **twilio.configure_env(),
                ),
            )

        nodes = [Gunicorn(node_env(n), workers=2, threads=4) for n in ("node-a", "node-b")]
        balancer = Nginx([node.url.removeprefix("http://") for node in nodes])
        workers, beats = [], []
        for node in ("node-a", "node-b"):
            # Prefork, as in production: the parent keeps the broker connection alive while its child works.
            worker = CeleryWorker(node_env(node), pool="prefork")
            worker.name = f"worker-{node}"
            worker.argv += ["--hostname", f"worker-{node}@%h"]  # two workers on one host need two names
            beat = [str(BIN / "celery"), "-A", "billing_center", "beat", "--loglevel", "INFO"]
            beat_env = node_env(node) | {"DJANGO_SETTINGS_MODULE": "tests.reliability.cluster_beat_settings"}
            workers.append(worker)
            beats.append(Process(f"beat-{node}", [*beat, "-s", str(tmp_path / node / "beat")], beat_env))
        for process in [*nodes, *workers, *beats]:
            process.env["SITE_URL"] = balancer.url  # links in e-mails, gateway return addresses
        for process in [*nodes, *workers, *beats, balancer]:
            processes.append(process)
            process.start()
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(balancer.ca_file))  # our clients trust the balancer
        node_a_url, node_b_url = balancer.node_urls

        # A certificate filed through node A, stored in the bucket, opened by finance through node B.
        path = check.file_a_ticket(node_a_url, customer.username, bank)
        certificate = Certificate.objects.get(ticket__account=customer.account)
        stored = boto3.client("s3", endpoint_url=s3.url, **S3_CREDENTIALS).get_object(
            Bucket=BUCKET, Key=f"certificates/{certificate.file.name}"
        )
        assert stored["Body"].read() == SAMPLE_PDF
        finance = check.counted(storm.finance_session(reader_plan, node_b_url, storm.Outcome()), already=2)
        opened = finance.get(f"{node_b_url}{path}", timeout=30)
        assert opened.status_code == 200
        assert opened.content == SAMPLE_PDF

        check.check_the_proxy(balancer.url, nodes, throttled.username)
        holder = check.hold_an_alert_sms(balancer.url, plan.token, alerted, twilio, workers)

        # The storm through the balancer; the worker mid-send, then node A, SIGKILLed (whole process groups).
        def kill(process: Process, what: str, at: float, started: float) -> None:
            time.sleep(max(0.0, started + at - time.monotonic()))
            process.signal(signal.SIGKILL)
            kills.append(check.Kill(what, time.monotonic() - started))

        started, storm_began = time.monotonic(), timezone.now()
        killers = [
            threading.Thread(target=kill, args=(holder, f"{holder.name} mid-SMS", KILL_WORKER_AT, started)),
            threading.Thread(target=kill, args=(nodes[0], "web node A", KILL_NODE_AT, started)),
        ]
        for killer in killers:
            killer.start()
        outcome = storm.run(plan, balancer.url)
        for killer in killers:
            killer.join()
        assert len(kills) == 2, kills
        assert all(kill.at < outcome.seconds for kill in kills), f"a kill came after the storm ended: {kills}"

        survivor = next(worker for worker in workers if worker is not holder)
        extra = check.alert_sent_once(alerted, twilio, killed=holder, survivor=survivor)
        extra["emails"] = check.every_email_sent(plan.accounts, since=storm_began)
        check.let_the_beats_run(periods=10)
        for beat in beats:
            beat.stop()
        extra |= check.count_the_beats(beats, workers)
        extra["swept"] = check.sent_by_the_sweep(workers)
        health = finance.get(f"{balancer.url}/healthz", timeout=10).json()
        assert health["database"]["ok"], health
        assert health["broker"]["ok"], health
    left = {process.name: process.left_running() for process in processes if process.left_running()}
    assert not left, f"still running after the test: {left}"

    # Every source once, balances exact, verify_ledger clean, no 5xx; what node A took and never
    # answered (at most its 2 workers x 4 threads) the balancer delivered again to node B.
    figures = check.Figures(storm.verify(plan, outcome, in_flight_when_killed=8), outcome, kills, extra)
    figures.seconds = time.monotonic() - began
    print("\n" + "\n".join(figures.lines()))
