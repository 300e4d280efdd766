"""The figures of `make bench` (bench/run.py), one function per group of table rows."""

import http.client
import json
import re
import statistics
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from accounts.alerts import accounts_due_an_alert
from accounts.models import Account, User
from accounts.usage_api.tokens import create_service_token
from bench.data import grow_customer
from tests.reliability.processes import Gunicorn, service_env
from tickets.models import TransferTicket
from topups.models import TopUp

CROWD = 1_000  # accounts the spread-out notifications credit
SENDERS = 8  # concurrent notification senders, and pgbench's clients
STRIPE_SECRET = "whsec_bench"


def pgbench_tps(url: str, *, clients: int, seconds: int) -> float:
    out = subprocess.run(
        ["pgbench", "-n", "-b", "tpcb-like", "-c", str(clients), "-j", "2", "-T", str(seconds), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(re.search(r"tps = ([\d.]+)", out)[1])


def parallel(items, work, threads: int) -> float:
    """Run work(item) over items from `threads` threads; seconds taken."""
    queue, lock = list(items), threading.Lock()

    def loop():
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            work(item)

    started = time.perf_counter()
    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - started


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def get(session: requests.Session, url: str) -> float:
    started = time.perf_counter()
    response = session.get(url, timeout=30)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code}")
    return seconds


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class World:
    customer: User
    bank: object
    clerk: User
    crowd: list
    hot: Account
    session_key: str

    @classmethod
    def create(cls) -> "World":
        from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
        from django.contrib.auth.models import Group, Permission
        from django.contrib.sessions.backends.db import SessionStore

        from billing_center.management.commands.seed_demo import FINANCE_PERMISSIONS
        from tests.tickets.conftest import usd_receiving_account

        bank = usd_receiving_account()
        account = Account.objects.create(name="Bench customer", balance=Money(0, "USD"))
        customer = User.objects.create_user("bench", account=account, email="bench@example.com")
        grow_customer(account=account, user=customer, bank=bank, count=50)
        clerk = User.objects.create_user("clerk", is_staff=True)
        group, _ = Group.objects.get_or_create(name=settings.FINANCE_GROUP)
        group.permissions.set(Permission.objects.filter(codename__in=FINANCE_PERMISSIONS))
        clerk.groups.add(group)
        crowd = Account.objects.bulk_create([Account(name=f"Crowd {i}", balance=Money(0, "USD")) for i in range(CROWD)])
        hot = Account.objects.create(name="Hot account", balance=Money(0, "USD"))
        session = SessionStore()
        session.update(
            {
                SESSION_KEY: str(customer.pk),
                BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                HASH_SESSION_KEY: customer.get_session_auth_hash(),
            }
        )
        session.create()
        subprocess_run(["pgbench", "-i", "-q", "-s", "10", database_url()])
        return cls(customer, bank, clerk, crowd, hot, session.session_key)

    def pending_topups(self, accounts: list, count: int, tag: str) -> list:
        return TopUp.objects.bulk_create(
            [
                TopUp(
                    account=accounts[i % len(accounts)],
                    created_by=self.customer,
                    gateway="stripe",
                    amount=Money("10.00", "USD"),
                    credit_amount=Money("10.00", "USD"),
                    gateway_session_id=f"cs_{tag}_{i}",
                )
                for i in range(count)
            ]
        )


def subprocess_run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@contextmanager
def server(*, broker_url: str = "memory://"):
    """gunicorn on a free loopback port, 2 workers × 4 threads: what gunicorn.conf.py gives on two cores."""
    env = service_env(
        database_url=database_url(),
        broker_url=broker_url,
        DJANGO_SETTINGS_MODULE="bench.settings",
        STRIPE_SECRET_KEY="sk_test_bench",
        STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
    )
    with Gunicorn(env, workers=2, threads=4) as web:
        yield web.url


# --- Crediting: webhooks over HTTP next to pgbench ------------------------------------------


class Sender:
    """One keep-alive HTTP/1.1 connection, as light as a client can be: http.client, no
    retries, no cookie jar. The senders share two cores with the server and PostgreSQL, so
    what the client spends is taken from what is measured."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
        self.connection.request(method, path, body=body, headers=headers or {})
        response = self.connection.getresponse()
        return response.status, response.read()


def request_rate(url: str, calls: list[tuple], accept, senders: int = SENDERS) -> float:
    """Requests per second for (method, path, body, headers) tuples, `senders` at a time over
    keep-alive connections; every answer must pass accept(status, body)."""
    local, failures = threading.local(), []

    def send(request):
        if not hasattr(local, "sender"):
            local.sender = Sender(url)
        status, body = local.sender.send(*request)
        if not accept(status, body):
            failures.append(status)

    seconds = parallel(calls, send, senders)
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(calls)} requests failed: {sorted(set(failures))}")
    return len(calls) / seconds


# --- Page latency next to a trivial view -------------------------------------------------------


def page_latency(world: World, url: str, args) -> list[tuple]:
    http = requests.Session()
    http.cookies.set(settings.SESSION_COOKIE_NAME, world.session_key)
    ticket = TransferTicket.objects.filter(account=world.customer.account).earliest("pk")
    pages = {
        "Pay page": ("/billing/pay/", args.requests, "≤ 3"),
        "Overview": ("/billing/", args.requests // 2, "≤ 5"),
        "ticket page": (f"/billing/tickets/{ticket.number}/", args.requests // 2, "≤ 5"),
        "Top-up records": ("/billing/topups/", args.requests // 2, "≤ 5"),
    }
    rows = []
    for name, (path, count, goal) in pages.items():
        ratios, medians = [], []
        for _rep in range(args.reps):
            trivial, page = [], []
            for _ in range(count):  # interleaved, so a slow moment hits both
                trivial.append(get(http, f"{url}/bench/trivial/"))
                page.append(get(http, f"{url}{path}"))
            ratios.append(statistics.median(page) / statistics.median(trivial))
            medians.append(statistics.median(page) * 1000)
        detail = f"median {statistics.median(medians):.1f} ms over {count} × {args.reps}"
        rows.append((f"{name} latency (÷ trivial view)", spread(ratios), goal, detail))
    return rows


# --- Queries per page and the admin queue at scale (in-process) --------------------------------


CUSTOMER_PAGES = ("/billing/", "/billing/pay/", "/billing/topups/", "/billing/statement/", "/billing/tickets/")


def queries(client: Client, path: str) -> int:
    client.get(path)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(captured.captured_queries)


def median_ms(client: Client, path: str, repeat: int = 30) -> float:
    client.get(path)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def queries_and_queue(world: World, args) -> list[tuple]:
    from tests.helpers import staff_login

    account = Account.objects.create(name="At scale", balance=Money(0, "USD"))
    user = User.objects.create_user("scale", account=account)
    customer, finance = Client(), Client()
    customer.force_login(user)
    staff_login(finance, world.clerk)
    queue = "/admin/tickets/transferticket/"
    counts, queue_ms, page_ms = {}, {}, {}
    made = 0
    for size in (10, 100, args.large):
        grow_customer(account=account, user=user, bank=world.bank, count=size - made, start=made)
        made = size
        # What autovacuum does after a bulk insert (PostgreSQL 13+ vacuums insert-only tables
        # too): statistics for the new size, and the visibility map an index-only count needs.
        connection.cursor().execute("VACUUM ANALYZE")
        ticket = TransferTicket.objects.filter(account=account).earliest("pk")
        paths = [*CUSTOMER_PAGES, f"/billing/tickets/{ticket.number}/"]
        counts[size] = [queries(customer, p) for p in paths] + [queries(finance, queue)]
        queue_ms[size] = [median_ms(finance, queue) for _ in range(args.reps)]
        page_ms[size] = {p: median_ms(customer, p) for p in paths}
    ratio = [large / small for large, small in zip(queue_ms[args.large], queue_ms[100], strict=True)]
    small, large = counts[10], counts[args.large]
    slowest = max(page_ms[args.large], key=lambda p: page_ms[args.large][p] / page_ms[100][p])
    return [
        (
            f"queries per page (10 → {args.large:,} rows)",
            f"customer {max(small[:-1])} → {max(large[:-1])}, admin {small[-1]} → {large[-1]}",
            "constant; ≤ 8 customer, ≤ 12 admin",
            f"{len(CUSTOMER_PAGES) + 1} customer pages, the finance queue",
        ),
        (
            f"customer pages at scale ({args.large:,} ÷ 100 rows, worst page)",
            f"{page_ms[args.large][slowest] / page_ms[100][slowest]:.2f}",
            "(context)",
            f"{slowest}: {page_ms[100][slowest]:.0f} → {page_ms[args.large][slowest]:.0f} ms, in-process",
        ),
        (
            f"admin queue at scale ({args.large:,} ÷ 100 tickets)",
            spread(ratio),
            "≤ 1.5",
            f"{statistics.median(queue_ms[100]):.0f} → {statistics.median(queue_ms[args.large]):.0f} ms",
        ),
    ]


# --- Batch usage charges, and the alert sweep --------------------------------------------------


CHARGE_CALLERS = 2  # metering services calling at once: one per core of the server


def batch_charges(args) -> list[tuple]:
    """Charges per second through POST /api/v1/charges/batch, 1,000 per call over 10,000
    accounts: over HTTP to gunicorn with CHARGE_CALLERS calling at once (the figure), and
    in-process from one caller (the detail: what one request costs, without the network)."""
    accounts = Account.objects.bulk_create(
        [Account(name=f"Metered {i}", balance=Money("1000.00", "USD")) for i in range(10_000)]
    )
    _, token = create_service_token(service="bench", name="Bench")
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def bodies(tag: str, calls: int) -> list[bytes]:
        return [
            json.dumps(
                {
                    "charges": [
                        {
                            "account": accounts[(call * 1000 + i) % len(accounts)].pk,
                            "amount": "0.01",
                            "currency": "USD",
                            "idempotency_key": f"{tag}-{call}-{i}",
                        }
                        for i in range(1000)
                    ]
                }
            ).encode()
            for call in range(calls)
        ]

    def all_created(status: int, body: bytes) -> bool:
        return status == 200 and json.loads(body)["created"] == 1000

    client, over_http, in_process = Client(), [], []
    with server() as url:
        warm_up = [("POST", "/api/v1/charges/batch", body, headers) for body in bodies("warm-up", 4)]
        request_rate(url, warm_up, all_created, senders=CHARGE_CALLERS)  # each worker's first calls load code
        for rep in range(args.reps):
            calls = [("POST", "/api/v1/charges/batch", body, headers) for body in bodies(f"h{rep}", 10)]
            over_http.append(1000 * request_rate(url, calls, all_created, senders=CHARGE_CALLERS))
            started = time.perf_counter()
            for body in bodies(f"p{rep}", 5):
                response = client.post(
                    "/api/v1/charges/batch",
                    body,
                    content_type="application/json",
                    HTTP_AUTHORIZATION=headers["Authorization"],
                )
                assert all_created(response.status_code, response.content), response.content[:200]
            in_process.append(5 * 1000 / (time.perf_counter() - started))
    return [
        (
            "batch usage charges (/s)",
            spread(over_http, "{:,.0f}"),
            "≥ 10,000",
            f"over HTTP, {CHARGE_CALLERS} callers, 1,000 per call over 10,000 accounts; "
            f"one caller in-process {statistics.median(in_process):,.0f}/s",
        )
    ]


def alert_sweep(args) -> list[tuple]:
    """One pass finding, among N accounts with alerts on, those below threshold (0.1%)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO accounts_account (name, type, balance_currency, balance, payment_currency, alert_enabled,
                alert_threshold, alert_armed, alert_crossings, refill_armed, refill_crossings, needs_review,
                review_note, created_at, alert_copy_to_master)
            SELECT 'Alerting ' || n, 'prepaid', 'USD', CASE WHEN n %% 1000 = 0 THEN 40 ELSE 500 END, '', true,
                50, true, 0, true, 0, false, '', now(), false
            FROM generate_series(1, %s) AS n
            """,
            [args.alert_accounts],
        )
        cursor.execute("ANALYZE accounts_account")
    times, found = [], 0
    for _ in range(args.reps):
        started = time.perf_counter()
        found = len(list(accounts_due_an_alert()))
        times.append(time.perf_counter() - started)
    return [
        (
            f"alert sweep ({args.alert_accounts:,} accounts, s)",
            spread(times, "{:.3f}"),
            "≤ 10",
            f"{found:,} below threshold found per pass",
        )
    ]
