"""Webhook intake, then crediting in batches: gunicorn stores and answers, two Celery workers credit.

Run by hand (also figures of `make bench`), against PostgreSQL:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_center .venv/bin/python bench/intake.py [--quick]

- intake: Stripe-signed checkout.session.completed posted over HTTP to gunicorn (2 workers × 4
  threads) by 8 keep-alive senders, verified, stored and answered "received", no worker running;
  ÷ pgbench tpcb-like with 8 clients, alternating; with how many batch tasks intake published
  per 1,000 deliveries (web and workers share a cache on the private Redis: topups.wake) and
  the CPU time gunicorn's workers spent per delivery.
- drained end to end: 10,000 deliveries (30% the same event again) for 7,000 payments over 1,000
  accounts, two Celery workers (a private Redis as broker) crediting while the senders send; the
  clock runs from the first send until a poll (every 50 ms) sees the last payment credited.
- latency: deliveries sent at half the drained rate; for each payment, first send → seen credited.
- hot account: the drained run with every payment for one account, ÷ the spread-out run.
"""

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SENDERS = 8
DUPLICATES = 0.3
POLL_SECONDS = 0.05


def intake_figures(world, args) -> list[tuple]:
    """The table rows; `world` is bench.figures.World (accounts, a payer, pgbench's tables)."""
    from bench.figures import STRIPE_SECRET, database_url, pgbench_tps, spread
    from tests.reliability.processes import Gunicorn, RedisServer, Workers, service_env

    deliveries = getattr(args, "deliveries", 10_000)
    intake, drained, hot, tps, latencies, published, web_cpu = [], [], [], [], [], [], []
    with RedisServer() as redis:
        # The web and worker processes share a cache, as in production (Redis): the batch task is
        # published once per burst through its wake flag there (topups.wake). Broker on db 0, cache on db 1.
        env = service_env(
            database_url=database_url(),
            broker_url=redis.url,
            redis_url=f"redis://127.0.0.1:{redis.port}/1",
            DJANGO_SETTINGS_MODULE="bench.settings",
            STRIPE_SECRET_KEY="sk_test_bench",
            STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
        )
        with Gunicorn(env, workers=2, threads=4) as web:  # 2 workers × 4 threads, as on two cores
            for rep in range(getattr(args, "intake_reps", 1)):  # one: a drained run of 10,000 takes minutes
                tps.append(pgbench_tps(database_url(), clients=SENDERS, seconds=10))
                count = deliveries // 5
                cpu = web_cpu_seconds(web)
                intake.append(intake_rate(world, web.url, count, f"i{rep}"))
                web_cpu.append((web_cpu_seconds(web) - cpu) * 1000 / count)
                published.append(queued_tasks(redis) * 1000 / count)  # no worker ran: every task is still queued
                empty_broker(redis)  # the intake run's tasks, never run: not the drained run's work
                if getattr(args, "intake_only", False):
                    continue
                with Workers(env, 2):
                    drained.append(drain_rate(world, web.url, world.crowd, deliveries, f"d{rep}"))
                    hot.append(drain_rate(world, web.url, [world.hot], deliveries, f"h{rep}"))
                    rate = drained[-1][0] / 2
                    latencies.append(latency(world, web.url, rate, max(200, int(rate * 15)), f"l{rep}"))
    rows = [
        (
            f"webhook intake over HTTP (÷ pgbench tpcb-like, {SENDERS} clients)",
            spread([i / t for i, t in zip(intake, tps, strict=True)]),
            "≥ 0.35",
            f"{statistics.median(intake):.0f} stored/s (verified, stored, answered)"
            f" vs {statistics.median(tps):.0f} TPS; web CPU {statistics.median(web_cpu):.2f} ms per delivery;"
            f" {statistics.median(published):.0f} batch tasks published per 1,000 deliveries",
        )
    ]
    if not drained:
        return rows
    credits = [c for c, _ in drained]
    p99s = [p99 for _, p99 in latencies]
    return [
        *rows,
        (
            "credits drained end to end (÷ pgbench)",
            spread([c / t for c, t in zip(credits, tps, strict=True)]),
            "≥ 0.25",
            f"{statistics.median(credits):.0f} credits/s ({statistics.median(d for _, d in drained):.0f} deliveries/s;"
            f" {deliveries:,} deliveries, 30% duplicates, {len(world.crowd):,} accounts, 2 workers)",
        ),
        (
            "delivery → credit latency p99 at half the drained rate (s)",
            spread(p99s),
            "≤ 1",
            f"p50 {statistics.median(p50 for p50, _ in latencies):.2f} s",
        ),
        (
            "hot account drained (÷ spread-out)",
            spread([h[0] / d[0] for h, d in zip(hot, drained, strict=True)]),
            "≥ 0.9",
            f"{statistics.median(h[0] for h in hot):.0f} credits/s, every payment for one account",
        ),
    ]


def web_cpu_seconds(web) -> float:
    """CPU time gunicorn's workers have used (user + system, from /proc): what a delivery costs
    the web tier, steadier than a rate on a machine shared with the senders and PostgreSQL."""
    total = 0
    for pid in web.worker_pids():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def queued_tasks(redis) -> int:
    """Messages waiting in the private broker's default queue (kombu's Redis transport: a list)."""
    import redis as redis_client

    return redis_client.Redis(port=redis.port).llen("celery")


def notifications(world, accounts: list, deliveries: int, tag: str) -> tuple[list, list]:
    """The payments' top-ups and the signed deliveries announcing them, 30% sent twice, shuffled
    with a fixed seed (signed now: well inside Stripe's five-minute tolerance)."""
    import random

    from bench.figures import STRIPE_SECRET
    from tests.fakes.stripe import event, paid_session, signed

    payments = deliveries - round(deliveries * DUPLICATES)
    topups = world.pending_topups(accounts, payments, tag)
    calls = []
    for topup in topups:
        body, signature = signed(event("checkout.session.completed", paid_session(topup)), secret=STRIPE_SECRET)
        calls.append((topup.pk, body, {"Content-Type": "application/json", "Stripe-Signature": signature}))
    rng = random.Random(21)
    calls += [rng.choice(calls) for _ in range(deliveries - payments)]
    rng.shuffle(calls)
    return topups, calls


def intake_rate(world, url: str, count: int, tag: str) -> float:
    """Stored and answered per second, no worker running; what was stored is then applied here."""
    from django.conf import settings

    from bench.figures import request_rate
    from topups.batches import apply_deliveries

    settings.STRIPE_SECRET_KEY = "sk_test_bench"  # this process applies them: Stripe enabled here too
    _, calls = notifications(world, world.crowd, count, tag)
    requests = [("POST", "/webhooks/stripe/", body, headers) for _, body, headers in calls]
    rate = request_rate(url, requests, lambda status, body: status == 200 and b'"received"' in body)
    apply_deliveries()  # so the drained runs start with nothing waiting
    return rate


def empty_broker(redis) -> None:
    redis.stop()
    redis.start()  # keeps nothing on disk: an empty broker on the same port


def drain_rate(world, url: str, accounts: list, deliveries: int, tag: str) -> tuple[float, float]:
    """(credits/s, deliveries/s) from the first send until the last payment is seen credited."""
    from bench.figures import Sender, parallel

    topups, calls = notifications(world, accounts, deliveries, tag)
    local = threading.local()

    def send(call):
        if not hasattr(local, "sender"):
            local.sender = Sender(url)
        status, body = local.sender.send("POST", "/webhooks/stripe/", call[1], call[2])
        if status != 200:
            raise RuntimeError(f"webhook answered {status}: {body[:200]!r}")

    started = time.perf_counter()
    parallel(calls, send, SENDERS)
    wait_credited([topup.pk for topup in topups])
    seconds = time.perf_counter() - started
    return len(topups) / seconds, deliveries / seconds


def wait_credited(ids: list[int], seen: dict | None = None, timeout: float = 600) -> None:
    """Poll until every top-up is credited; `seen` gets each one's first moment seen credited."""
    from topups.models import TopUp, WebhookDelivery

    remaining, deadline = set(ids), time.monotonic() + timeout
    while remaining:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(remaining)} payments not credited after {timeout:.0f} s")
        failed = WebhookDelivery.objects.filter(verdict=WebhookDelivery.Verdict.ERROR).first()
        if failed:
            raise RuntimeError(f"a worker could not apply {failed}: {failed.error}")
        credited = TopUp.objects.filter(pk__in=remaining, status=TopUp.Status.CREDITED).values_list("pk", flat=True)
        now = time.perf_counter()
        for pk in credited:
            remaining.discard(pk)
            if seen is not None:
                seen[pk] = now
        time.sleep(POLL_SECONDS)


def latency(world, url: str, rate: float, deliveries: int, tag: str) -> tuple[float, float]:
    """(p50, p99) seconds from a payment's first delivery to its credit, sending at `rate`/s."""
    from bench.figures import Sender

    topups, calls = notifications(world, world.crowd, deliveries, tag)
    first_sent: dict[int, float] = {}
    lock, local, seen = threading.Lock(), threading.local(), {}
    start = time.perf_counter() + 0.5
    schedule = iter(enumerate(calls))

    def sender():
        local.sender = Sender(url)
        while True:
            with lock:
                item = next(schedule, None)
            if item is None:
                return
            index, (pk, body, headers) = item
            time.sleep(max(0.0, start + index / rate - time.perf_counter()))  # paced, not as fast as possible
            sent = time.perf_counter()
            with lock:
                first_sent.setdefault(pk, sent)
            status, answer = local.sender.send("POST", "/webhooks/stripe/", body, headers)
            if status != 200:
                raise RuntimeError(f"webhook answered {status}: {answer[:200]!r}")

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    wait_credited([topup.pk for topup in topups], seen)
    for thread in threads:
        thread.join()
    waits = sorted(seen[pk] - first_sent[pk] for pk in seen)
    return statistics.median(waits), waits[min(len(waits) - 1, int(len(waits) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intake-reps", type=int, default=1)
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 deliveries")
    parser.add_argument("--intake-only", action="store_true", help="only the intake figure (no workers)")
    args = parser.parse_args()
    if args.quick:
        args.deliveries = 1_000
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("The intake figures need PostgreSQL: set DATABASE_URL=postgres://...")
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from bench.figures import World
    from bench.run import print_table

    # Named after the database it is created beside, so two checkouts can measure side by side.
    database = settings.DATABASES["default"]
    database.setdefault("TEST", {})["NAME"] = f"bench_{database['NAME']}_intake"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print_table(intake_figures(World.create(), args))
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
