"""The product as a cluster, CI-sized: nginx in front of two gunicorn web nodes, each with its own
working folder (no shared disk); two Celery workers and two beats; PgBouncer in transaction mode
in front of PostgreSQL; RabbitMQ; an S3-compatible server (moto) for the certificates.

Through the balancer the storm runs (signed notifications, usage charges, finance confirmations)
and one web node is SIGKILLed in the middle of it; a certificate filed through node A is opened by
finance through node B. `docs/deploy.md` describes the topology."""

import os
import re
import signal
import threading
import time
from pathlib import Path

import boto3
import requests
from moto.server import ThreadedMotoServer

from tests.conftest import require
from tests.reliability import storm
from tests.reliability.processes import BIN, CeleryWorker, Gunicorn, Nginx, PgBouncer, Process, free_port, service_env
from tests.tickets.conftest import SAMPLE_PDF, ticket_form_data

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
BUCKET = "billing-cluster"


def rabbitmq_answers() -> bool:
    import kombu

    try:
        kombu.Connection(RABBITMQ_URL, connect_timeout=3).ensure_connection(max_retries=1)
    except Exception:  # any failure: not there
        return False
    return True


def file_a_ticket(base_url: str, username: str, bank) -> str:
    """Sign in on one node and file a Transfer Ticket with a PDF: the certificate's download path."""
    http = requests.Session()
    page = http.get(f"{base_url}/login/", timeout=30)
    form = {"username": username, "password": "secret-pass-123", "csrfmiddlewaretoken": CSRF.search(page.text)[1]}
    assert http.post(f"{base_url}/login/", data=form, allow_redirects=False, timeout=30).status_code == 302
    page = http.get(f"{base_url}/billing/tickets/new/", timeout=30)
    fields = {k: v for k, v in ticket_form_data(bank).items() if k != "certificates"}
    response = http.post(
        f"{base_url}/billing/tickets/new/",
        data=fields | {"csrfmiddlewaretoken": CSRF.search(page.text)[1]},
        files={"certificates": ("certificate.pdf", SAMPLE_PDF, "application/pdf")},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 303, response.status_code
    page = http.get(f"{base_url}{response.headers['Location']}", timeout=30).text
    return re.search(r'href="(/billing/tickets/[^"]+/certificates/\d+/)"', page)[1]


def test_a_cluster_behind_nginx_survives_a_web_node_killed_mid_storm(database_url, tmp_path):
    for available, what in [
        (Nginx.available(), "Debian's nginx (apt-get install nginx)"),
        (PgBouncer.available(), "Debian's pgbouncer (apt-get install pgbouncer)"),
        (rabbitmq_answers(), f"RabbitMQ at {RABBITMQ_URL}"),
    ]:
        require(available, what)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import User
    from tests.factories import UserFactory
    from tests.tickets.conftest import usd_receiving_account
    from tickets.models import Certificate

    plan = storm.prepare(storm.SMALL)
    reader = User.objects.create_user("reader", password=storm.FINANCE_PASSWORD, is_staff=True)
    reader.groups.add(plan.clerk.groups.get())
    reader_plan = type("Reader", (), {"clerk": reader})()
    reader_plan.device = TOTPDevice.objects.create(user=reader, name="reader", confirmed=True)
    customer, bank = UserFactory(), usd_receiving_account()

    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    s3.start()
    s3_url = f"http://127.0.0.1:{s3.get_host_and_port()[1]}"
    credentials = {"aws_access_key_id": "moto", "aws_secret_access_key": "moto", "region_name": "us-east-1"}
    boto3.client("s3", endpoint_url=s3_url, **credentials).create_bucket(Bucket=BUCKET)
    processes: list[Process] = []
    try:
        with PgBouncer(database_url, pool_size=6) as bouncer:

            def node_env(node: str) -> dict[str, str]:
                folder = tmp_path / node
                Path(folder).mkdir(exist_ok=True)
                return service_env(
                    database_url=bouncer.url,
                    broker_url=RABBITMQ_URL,
                    redis_url=os.environ.get("REDIS_URL", ""),
                    BILLING_VAR_DIR=str(folder),
                    MEDIA_ROOT=str(folder / "media"),
                    DATABASE_PGBOUNCER="true",
                    STORAGE_BACKEND="s3",
                    S3_BUCKET=BUCKET,
                    S3_ENDPOINT_URL=s3_url,
                    S3_REGION=credentials["region_name"],
                    S3_ACCESS_KEY_ID=credentials["aws_access_key_id"],
                    S3_SECRET_ACCESS_KEY=credentials["aws_secret_access_key"],
                    S3_ADDRESSING_STYLE="path",
                    TRUSTED_PROXY_COUNT="1",
                    STRIPE_SECRET_KEY="sk_test_storm",
                    STRIPE_WEBHOOK_SECRET=storm.STRIPE_SECRET,
                )

            node_a, node_b = (Gunicorn(node_env(n), workers=2, threads=4) for n in ("node-a", "node-b"))
            processes += [node_a, node_b]
            for node in ("node-a", "node-b"):
                worker = CeleryWorker(node_env(node))
                worker.argv += ["--hostname", f"worker-{node}@%h"]  # two workers on one host need two names
                processes.append(worker)
                beat = [str(BIN / "celery"), "-A", "billing_center", "beat", "--loglevel", "INFO"]
                processes.append(Process(f"beat-{node}", [*beat, "-s", str(tmp_path / node / "beat")], node_env(node)))
            for process in processes:
                process.start()
            balancer = Nginx([node_a.url.removeprefix("http://"), node_b.url.removeprefix("http://")])
            processes.append(balancer)
            balancer.start()

            # A certificate filed through node A, opened by finance through node B.
            path = file_a_ticket(node_a.url, customer.username, bank)
            certificate = Certificate.objects.get(ticket__account=customer.account)
            stored = boto3.client("s3", endpoint_url=s3_url, **credentials).get_object(
                Bucket=BUCKET, Key=f"certificates/{certificate.file.name}"
            )
            assert stored["Body"].read() == SAMPLE_PDF
            finance = storm.finance_session(reader_plan, node_b.url, storm.Outcome())
            opened = finance.get(f"{node_b.url}{path}", timeout=30)
            assert opened.status_code == 200
            assert opened.content == SAMPLE_PDF

            # https comes through: the nodes see the balancer's X-Forwarded-Proto (gunicorn trusts it
            # from loopback), so Django checks a POST's Referer as on https; a browser sends one.
            bare = requests.Session()
            page = bare.get(f"{balancer.url}/login/", timeout=30)
            refused = bare.post(
                f"{balancer.url}/login/", data={"csrfmiddlewaretoken": CSRF.search(page.text)[1]}, timeout=30
            )
            assert refused.status_code == 403  # no Referer on an https request: CSRF refuses it
            public_url = balancer.url.replace("http://", "https://")

            # The storm through the balancer; node A is killed (the whole process group) mid-way.
            killed_at: list[float] = []

            def kill_node_a():
                time.sleep(3)
                node_a.signal(signal.SIGKILL)
                killed_at.append(time.monotonic())

            killer = threading.Thread(target=kill_node_a)
            started = time.monotonic()
            killer.start()
            outcome = storm.run(plan, balancer.url, public_url=public_url)
            killer.join()
            assert killed_at and killed_at[0] - started < outcome.seconds, "node A died after the storm ended"
            health = requests.get(f"{balancer.url}/healthz", timeout=10).json()
    finally:
        for process in reversed(processes):
            process.stop()
        s3.stop()

    # Every source once, balances exact, verify_ledger clean, no 5xx; what node A took and never
    # answered (at most its 2 workers x 4 threads) the balancer delivered again to node B.
    figures = storm.verify(plan, outcome, in_flight_when_killed=8)
    print(storm.summary_line(figures, storm.SMALL))
    print(
        f"  cluster: nginx, 2 web nodes (node A SIGKILLed mid-storm; {figures['redelivered']} of its requests "
        f"delivered again on B, {outcome.unanswered} sent again by their clients), 2 workers, 2 beats, "
        "PgBouncer (transaction), RabbitMQ, S3 (moto); "
        "a certificate filed on A opened by finance on B"
    )
    assert health["database"]["ok"]
    assert health["broker"]["ok"]
