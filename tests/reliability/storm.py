"""The storm: signed gateway notifications, usage charges and finance confirmations at once,
over real HTTP against gunicorn and PostgreSQL. Afterwards every balance must equal the exact
Decimal sum of what succeeded, the ledger must verify, and no answer may be a 5xx.

The webhook stores each notification and answers; two Celery workers credit what is stored, in
batches (topups.batches), and the storm ends when no delivery waits any more.

By hand, full size (10,000 notifications for 2,000 top-ups over 200 accounts, 30% duplicates,
8 senders), on a database of its own that it creates and drops:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/billing_center \\
        .venv/bin/python -m tests.reliability.storm

`--small` is the size CI runs (tests/reliability/test_storm.py). Prints one line.

Notifications are Stripe's documented events, signed with Stripe's scheme at send time.
Duplicates are both kinds a gateway sends: the same event again (at-least-once delivery) and
a second event for the same payment (`async_payment_succeeded` after `completed`). A third of
the events are types we do not handle (`payment_intent.*`, `charge.*`), answered 200.
"""

import argparse
import os
import random
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import requests

STRIPE_SECRET = "whsec_storm"
FINANCE_PASSWORD = "storm-finance-pass-2026"
CHANGELIST = "/admin/tickets/transferticket/"
UNHANDLED_TYPES = ["payment_intent.created", "payment_intent.succeeded", "charge.succeeded", "charge.updated"]


@dataclass(frozen=True)
class Size:
    deliveries: int
    topups: int
    accounts: int
    charges: int
    tickets: int
    duplicates: float = 0.3
    senders: int = 8


FULL = Size(deliveries=10_000, topups=2_000, accounts=200, charges=2_000, tickets=60)
SMALL = Size(deliveries=1_000, topups=200, accounts=40, charges=200, tickets=12)


@dataclass
class Plan:
    size: Size
    accounts: list  # Account rows
    events: list[dict]  # the distinct events, in sending order with their duplicates
    paid: dict[int, Decimal]  # top-up id -> amount that must be credited once
    unpaid: set[int]
    charges: list[dict]  # API bodies
    tickets: list  # TransferTicket rows to confirm
    token: str
    clerk: object
    device: object


@dataclass
class Outcome:
    statuses: Counter = field(default_factory=Counter)  # (what, status) -> count
    charged: dict[str, dict] = field(default_factory=dict)  # idempotency key -> body, when acknowledged
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unanswered: int = 0  # requests sent again because the connection died before an answer

    def post(self, http: requests.Session, url: str, **kwargs) -> requests.Response:
        """POST as a gateway or a metering client does: a request left without a whole answer (the
        server died mid-request, or mid-answer) is sent again, three times at most."""
        for attempt in range(3):
            try:
                return http.post(url, timeout=60, **kwargs)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                if attempt == 2:
                    raise
                self.unanswered += 1
        raise AssertionError("unreachable")

    def record(self, what: str, status: int, detail: str = "") -> None:
        self.statuses[(what, status)] += 1
        if status >= 500:
            self.errors.append(f"{what} {status} {detail[:200]}")


# --- Preparation (in this process, on the same database gunicorn serves) ---------------


def prepare(size: Size, *, seed: int = 2026) -> Plan:
    from django.contrib.auth.models import Group, Permission
    from djmoney.money import Money

    from accounts.models import Account, User
    from accounts.usage_api.tokens import create_service_token
    from billing_center.management.commands.seed_demo import FINANCE_PERMISSIONS
    from tests.fakes.stripe import checkout_session, event, paid_session
    from tests.tickets.conftest import make_ticket, pdf_bytes, upload, usd_receiving_account
    from topups.models import TopUp

    rng = random.Random(seed)
    accounts = Account.objects.bulk_create(
        [Account(name=f"Storm {i}", balance=Money(0, "USD")) for i in range(size.accounts)]
    )
    owners = User.objects.bulk_create(
        [User(username=f"storm{i}", account=a, email=f"storm{i}@example.com") for i, a in enumerate(accounts)]
    )

    amounts = [Decimal(rng.randint(100, 50_000)) / 100 for _ in range(size.topups)]
    topups = TopUp.objects.bulk_create(
        [
            TopUp(
                account=accounts[i % size.accounts],
                created_by=owners[i % size.accounts],
                gateway="stripe",
                amount=Money(amount, "USD"),
                credit_amount=Money(amount, "USD"),
                gateway_session_id=f"cs_storm_{seed}_{i}",
            )
            for i, amount in enumerate(amounts)
        ]
    )
    paid, unpaid, distinct = {}, set(), []
    for topup in topups:
        if rng.random() < 0.8:
            paid[topup.pk] = topup.amount.amount
            distinct.append(event("checkout.session.completed", paid_session(topup)))
            if rng.random() < 0.5:  # a second event for the same payment: must not credit again
                distinct.append(event("checkout.session.async_payment_succeeded", paid_session(topup)))
        else:
            unpaid.add(topup.pk)
            session = checkout_session(topup=topup, status="complete", payment_status="unpaid", url=None)
            distinct.append(event("checkout.session.completed", session))
            ending = rng.choice(["checkout.session.async_payment_failed", "checkout.session.expired"])
            distinct.append(event(ending, {**session, "status": "expired" if "expired" in ending else "complete"}))
    duplicates = round(size.deliveries * size.duplicates)
    while len(distinct) < size.deliveries - duplicates:
        topup = rng.choice(topups)
        intent = {"id": f"pi_storm_{len(distinct)}", "object": "payment_intent", "amount": 100, "currency": "usd"}
        distinct.append(event(rng.choice(UNHANDLED_TYPES), intent | {"metadata": {"topup": str(topup.public_id)}}))
    events = distinct + [rng.choice(distinct) for _ in range(duplicates)]
    rng.shuffle(events)

    charges = [
        {
            "account": rng.choice(accounts).pk,
            "amount": str(Decimal(rng.randint(1, 2_000)) / 100),
            "currency": "USD",
            "idempotency_key": f"storm-{seed}-{i}",
            "description": "storm usage",
        }
        for i in range(size.charges)
    ]
    _, token = create_service_token(service="storm", name="Storm")

    group, _ = Group.objects.get_or_create(name="Finance")
    group.permissions.set(Permission.objects.filter(codename__in=FINANCE_PERMISSIONS))
    clerk = User.objects.create_user("storm-clerk", password=FINANCE_PASSWORD, is_staff=True)
    clerk.groups.add(group)
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=clerk, name="storm", confirmed=True)
    bank = usd_receiving_account()
    tickets = []
    for i in range(size.tickets):
        owner = owners[rng.randrange(size.accounts)]
        amount = Money(Decimal(rng.randint(1_000, 90_000)) / 100, "USD")
        certificate = upload(content=pdf_bytes(f"Storm transfer {i}"))  # distinct: not a possible duplicate
        tickets.append(make_ticket(owner, bank, files=[certificate], amount=amount, bank_reference=f"FT-STORM-{i}"))
    return Plan(size, accounts, events, paid, unpaid, charges, tickets, token, clerk, device)


# --- The load ---------------------------------------------------------------------------


def run(plan: Plan, base_url: str, *, public_url: str = "") -> Outcome:
    """`public_url`: the address a browser would see (https behind a balancer), for the Referer."""
    outcome = Outcome()
    queue, lock = list(plan.events), threading.Lock()

    def send_notifications():
        from tests.fakes.stripe import signed

        http = requests.Session()
        while True:
            with lock:
                if not queue:
                    return
                payload = queue.pop()
            body, signature = signed(payload, secret=STRIPE_SECRET)  # signed when sent, as Stripe does
            response = outcome.post(
                http,
                f"{base_url}/webhooks/stripe/",
                data=body,
                headers={"Content-Type": "application/json", "Stripe-Signature": signature},
            )
            outcome.record("webhook", response.status_code, response.text)

    def send_charges(share: list[dict]):
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {plan.token}"
        for index, charge in enumerate(share):
            for _attempt in range(2 if index % 5 == 0 else 1):  # every fifth is retried with its key
                response = outcome.post(http, f"{base_url}/api/v1/charges", json=charge)
                outcome.record("charge", response.status_code, response.text)
                if response.status_code in (200, 201):
                    outcome.charged[charge["idempotency_key"]] = charge

    def confirm_tickets():
        http = finance_session(plan, base_url, outcome, public_url=public_url)
        for ticket in plan.tickets:
            fields = {
                "action": "confirm_and_credit",
                "_selected_action": str(ticket.pk),
                "post": "yes",
                f"t{ticket.pk}-received_amount": str(ticket.amount.amount),
                f"t{ticket.pk}-received_currency": "USD",
                f"t{ticket.pk}-bank_reference": f"STMT-{ticket.number}",
                "csrfmiddlewaretoken": http.cookies["csrftoken"],
            }
            for _click in range(2):  # a double click on "Yes, I'm sure"
                response = outcome.post(http, f"{base_url}{CHANGELIST}?due=all", data=fields, allow_redirects=False)
                outcome.record("confirm", response.status_code, response.text)

    threads = [threading.Thread(target=send_notifications) for _ in range(plan.size.senders)]
    threads += [threading.Thread(target=send_charges, args=(plan.charges[i::2],)) for i in range(2)]
    threads.append(threading.Thread(target=confirm_tickets))
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for_workers()
    outcome.seconds = time.perf_counter() - started
    return outcome


def wait_for_workers(timeout: float = 180) -> None:
    """The webhook stores and answers; the workers credit. Done when no delivery waits any more."""
    from tests.reliability.processes import wait_until
    from topups.models import WebhookDelivery

    waiting = WebhookDelivery.objects.filter(verdict__in=["received", "error"])
    wait_until(lambda: not waiting.exists(), timeout=timeout, what="the workers to apply every stored delivery")


def finance_session(plan: Plan, base_url: str, outcome: Outcome, *, public_url: str = "") -> requests.Session:
    """Sign the clerk in the way a person does: password and the current one-time code."""
    from tests.helpers import current_otp

    http = requests.Session()
    http.headers["Referer"] = f"{public_url or base_url}/admin/"  # as a browser sends; checked on https
    page = http.get(f"{base_url}/admin/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    form = {"username": plan.clerk.username, "password": FINANCE_PASSWORD, "csrfmiddlewaretoken": token}
    response = http.post(
        f"{base_url}/admin/login/?next=/admin/",
        data=form | {"otp_token": current_otp(plan.device)},
        allow_redirects=False,
        timeout=30,
    )
    outcome.record("login", response.status_code, response.text)
    if response.status_code != 302:
        raise RuntimeError(f"finance sign-in failed: {response.status_code}")
    return http


# --- The verdict ------------------------------------------------------------------------


def verify(plan: Plan, outcome: Outcome, *, in_flight_when_killed: int = 0) -> dict:
    """Every figure the closing note needs; raises AssertionError on the first broken promise.

    `in_flight_when_killed`: the most requests a killed web node can have taken and not answered;
    the balancer sends each again to another node, so the server counts that many more deliveries."""
    from django.db.models import Count, Sum

    from accounts.models import Account, LedgerEntry
    from accounts.monthly_usage import usage_mismatches
    from accounts.verification import ledger_mismatches
    from tickets.models import TransferTicket
    from topups.models import TopUp, WebhookDelivery

    assert not outcome.errors, f"{len(outcome.errors)} answers were 5xx: {outcome.errors[:5]}"
    webhook_answers = {s: n for (what, s), n in outcome.statuses.items() if what == "webhook"}
    assert set(webhook_answers) == {200}, f"webhook answers: {webhook_answers}"

    expected = defaultdict(Decimal)
    for topup in TopUp.objects.filter(pk__in=plan.paid):
        expected[topup.account_id] += plan.paid[topup.pk]
    for charge in outcome.charged.values():
        expected[charge["account"]] -= Decimal(charge["amount"])
    credited_tickets = TransferTicket.objects.filter(pk__in=[t.pk for t in plan.tickets], status="credited")
    for ticket in credited_tickets:
        expected[ticket.account_id] += ticket.credit_amount.amount

    accounts = Account.objects.filter(pk__in=[a.pk for a in plan.accounts])
    wrong = [(a.pk, a.balance.amount, expected[a.pk]) for a in accounts if a.balance.amount != expected[a.pk]]
    assert not wrong, f"{len(wrong)} balances differ from the sum of their sources, e.g. {wrong[:3]}"
    assert ledger_mismatches() == [], "verify_ledger: a balance differs from the sum of its entries"
    assert usage_mismatches() == [], "verify_ledger: a month's usage total differs from its charges"

    credits = Counter(
        LedgerEntry.objects.filter(kind="online_topup", account__in=accounts).values_list("source_ref", flat=True)
    )
    assert all(n == 1 for n in credits.values()), "a top-up was credited twice"
    statuses = Counter(TopUp.objects.filter(pk__in=plan.paid).values_list("status", flat=True))
    assert statuses == {"credited": len(plan.paid)}, f"paid top-ups: {statuses}"
    assert not TopUp.objects.filter(pk__in=plan.unpaid, status="credited").exists(), "an unpaid top-up was credited"
    assert len(credits) == len(plan.paid)
    assert credited_tickets.count() == len(plan.tickets), f"confirmations did not credit: {outcome.statuses}"
    charge_entries = LedgerEntry.objects.filter(kind="usage", account__in=accounts).count()
    assert charge_entries == len(outcome.charged) == len(plan.charges), (charge_entries, len(outcome.charged))

    stripe_deliveries = WebhookDelivery.objects.filter(gateway="stripe")
    deliveries = stripe_deliveries.aggregate(rows=Count("pk"), sent=Sum("delivery_count"))
    sent = sum(webhook_answers.values())
    assert sent <= deliveries["sent"] <= sent + in_flight_when_killed, (deliveries, sent)
    verdicts = Counter(stripe_deliveries.values_list("verdict", flat=True))
    assert verdicts["credited"] == len(plan.paid), verdicts
    assert not {"received", "error", "flagged", "rejected"} & set(verdicts), f"unfinished or refused: {verdicts}"
    return {
        "deliveries": sent,
        # the same event again, and a second event for a payment already credited
        "duplicates_rejected": sent - deliveries["rows"] + verdicts["already_credited"],
        "events": deliveries["rows"],
        "credits": len(credits),
        "charges": charge_entries,
        "charge_replays": outcome.statuses[("charge", 200)],
        "tickets": credited_tickets.count(),
        "double_clicks": len(plan.tickets),
        "balances_checked": accounts.count(),
        "redelivered": deliveries["sent"] - sent,
        "5xx": 0,
        "seconds": round(outcome.seconds, 1),
    }


def summary_line(figures: dict, size: Size) -> str:
    return (
        f"storm: {figures['deliveries']:,} deliveries ({figures['duplicates_rejected']:,} duplicates rejected, "
        f"{figures['events']:,} distinct events) + {figures['charges']:,} charges ({figures['charge_replays']:,} "
        f"replays) + {figures['tickets']} finance confirmations ({figures['double_clicks']} double clicks), "
        f"{size.senders} senders, in {figures['seconds']} s: {figures['credits']:,} credits, "
        f"{figures['balances_checked']} balances exact, ledger verified, 0 5xx"
    )


# --- By hand ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="the size CI runs")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (two cores here)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("The storm needs PostgreSQL: set DATABASE_URL=postgres://...")
    os.environ["DJANGO_SETTINGS_MODULE"] = "billing_center.settings.test"
    import django

    django.setup()
    from django.db import connection

    from tests.reliability.processes import Gunicorn, RedisServer, Workers, service_env

    size = SMALL if args.small else FULL
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        plan = prepare(size)
        database = connection.settings_dict
        url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        with RedisServer() as redis:
            env = service_env(
                database_url=url,
                broker_url=redis.url,  # the workers credit what the webhook stores
                STRIPE_SECRET_KEY="sk_test_storm",
                STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
            )
            with Gunicorn(env, workers=args.workers, threads=args.threads) as server, Workers(env, 2):
                outcome = run(plan, server.url)
        print(summary_line(verify(plan, outcome), size))
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
