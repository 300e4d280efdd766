"""The parts of the cluster test (tests/reliability/test_cluster.py) that read as steps: the
nodes' production environment, a ticket filed on one node, what the proxy must pass on (client
address, https), the alert SMS held at the provider while its worker is killed, the beats'
count, and the closing figures."""

import re
import secrets
from collections import Counter
from dataclasses import dataclass, field

import requests
from requests.adapters import HTTPAdapter

from tests.conftest import wait_for
from tests.reliability import storm
from tests.reliability.processes import Process, wait_until
from tests.tickets.conftest import SAMPLE_PDF, ticket_form_data

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PASSWORD = "secret-pass-123"  # UserFactory's
# The beats' schedule (tests/reliability/cluster_beat_settings.py): real tasks, run by the workers.
BEAT_ENTRIES = {
    "worker-heartbeat": "accounts.tasks.record_worker_heartbeat",
    "sweep-webhooks": "accounts.tasks.sweep_webhooks",
    "resend-pending-emails": "accounts.tasks.resend_pending_emails",
    "sweep-deliveries": "topups.tasks.sweep_deliveries",
}
# Two clients behind the balancer, told apart only by the address nginx sees (all of 127/8 is loopback).
CLIENT_X, CLIENT_Y = "127.0.0.2", "127.0.0.3"
FAILURE_LIMIT = 3
# One key for every node, as docs/deploy.md requires: a session signed on one node is read on another.
SECRET_KEY = secrets.token_urlsafe(50)
THROUGH_NGINX = Counter()  # requests the helpers below sent through the balancer's entrances


def production_env(**parts: str) -> dict[str, str]:
    """What every node of the cluster runs with: production settings, CLUSTER=true, these parts."""
    return {
        "DJANGO_SETTINGS_MODULE": "billing_center.settings.production",
        "CLUSTER": "true",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_PGBOUNCER": "true",
        "STORAGE_BACKEND": "s3",
        "TRUSTED_PROXY_COUNT": "1",  # nginx
        "AXES_FAILURE_LIMIT": str(FAILURE_LIMIT),
        "METRICS_ALLOW": f"{CLIENT_Y}/32",
        "PAYMENT_GATEWAY": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_storm",
        "STRIPE_WEBHOOK_SECRET": storm.STRIPE_SECRET,
        "STRIPE_API_BASE": "http://127.0.0.1:9",  # nothing here calls Stripe; if it did, nothing answers
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        # A claim by a killed worker is taken over after 3 s instead of 120 s (accounts.outbox).
        "OUTBOX_CLAIM_LEASE_SECONDS": "3",
        **parts,
    }


class FromAddress(HTTPAdapter):
    """Connect from a given loopback address, as a client on another machine would arrive."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def counted(http: requests.Session, *, already: int = 0) -> requests.Session:
    """Count the session's requests (and `already` sent) in THROUGH_NGINX."""
    THROUGH_NGINX["sent"] += already
    http.hooks["response"].append(lambda response, **kwargs: THROUGH_NGINX.update(["sent"]))
    return http


def browser(base_url: str, address: str = "") -> requests.Session:
    """A session that sends a Referer, as a browser does (Django checks it on https); counted."""
    http = counted(requests.Session())
    http.headers["Referer"] = f"{base_url}/"
    if address:
        http.mount("https://", FromAddress(address))
    return http


def csrf_token(http: requests.Session, url: str) -> str:
    return CSRF.search(http.get(url, timeout=30).text)[1]


def sign_in(http: requests.Session, base_url: str, username: str, password: str, token: str = "", **headers):
    """POST the sign-in form (with the token of a page fetched now, or of one fetched before)."""
    form = {"username": username, "password": password}
    form["csrfmiddlewaretoken"] = token or csrf_token(http, f"{base_url}/login/")
    return http.post(f"{base_url}/login/", data=form, headers=headers, allow_redirects=False, timeout=30)


def file_a_ticket(base_url: str, username: str, bank) -> str:
    """Sign in on one node and file a Transfer Ticket with a PDF: the certificate's download path."""
    http = browser(base_url)
    assert sign_in(http, base_url, username, PASSWORD).status_code == 302
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


def check_the_proxy(balancer_url: str, nodes: list[Process], username: str) -> None:
    """Through nginx: login throttling counts each client by the address nginx saw (a client's own
    X-Forwarded-For does not get it out of a lockout), /metrics lets in only its allowed address,
    and https reaches Django (Secure cookies, HSTS, the Referer check); a node reached without the
    balancer redirects to https."""
    from axes.models import AccessAttempt

    x, y = browser(balancer_url, CLIENT_X), browser(balancer_url, CLIENT_Y)
    # Failures from X, one page's token for all, so the balancer's turns spread the POSTs over both
    # nodes: counted in the database they share.
    token = csrf_token(x, f"{balancer_url}/login/")
    failures = [sign_in(x, balancer_url, username, "wrong", token).status_code for _ in range(FAILURE_LIMIT)]
    assert failures == [200] * (FAILURE_LIMIT - 1) + [429], failures
    assert all("AXES: " in node.log() for node in nodes), "the failures did not reach both nodes"
    spoofed = sign_in(x, balancer_url, username, PASSWORD, **{"X-Forwarded-For": CLIENT_Y})
    assert spoofed.status_code == 429, "X-Forwarded-For written by the client got it out of its lockout"
    signed_in = sign_in(y, balancer_url, username, PASSWORD)
    assert signed_in.status_code == 302, "a second client behind the balancer was locked out with the first"
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {CLIENT_X}

    session = next(cookie for cookie in y.cookies if cookie.name == "sessionid")
    assert session.secure, "the session cookie lacks Secure"
    assert session.has_nonstandard_attr("HttpOnly")
    assert signed_in.headers["Strict-Transport-Security"].startswith("max-age=")  # only sent on https

    assert y.get(f"{balancer_url}/metrics", timeout=30).status_code == 200
    assert x.get(f"{balancer_url}/metrics", timeout=30).status_code == 403
    assert x.get(f"{balancer_url}/metrics", headers={"X-Forwarded-For": CLIENT_Y}, timeout=30).status_code == 403

    bare = browser(balancer_url)
    del bare.headers["Referer"]  # none: on https Django's CSRF check refuses the POST
    page = bare.get(f"{balancer_url}/login/", timeout=30)
    refused = bare.post(f"{balancer_url}/login/", data={"csrfmiddlewaretoken": CSRF.search(page.text)[1]}, timeout=30)
    assert refused.status_code == 403

    direct = requests.get(f"{nodes[0].url}/login/", allow_redirects=False, timeout=30)  # not through nginx
    assert direct.status_code == 301, direct.status_code
    assert direct.headers["Location"].startswith("https://")
    assert requests.get(f"{nodes[0].url}/healthz", timeout=30).status_code == 200  # the balancer's probe


# --- A worker killed mid-task ---------------------------------------------------------------


def received(worker: Process, task: str) -> list[str]:
    """The ids of the `task` messages the worker's log shows it received."""
    return re.findall(rf"{re.escape(task)}\[(\S+)\] received", worker.log())


def worker_holding(workers: list[Process], task: str) -> Process:
    """The worker whose log shows it received `task` (a prefork child of one runs one task)."""
    holders = [worker for worker in workers if received(worker, task)]
    assert len(holders) == 1, [worker.name for worker in holders]
    return holders[0]


def hold_an_alert_sms(balancer_url: str, token: str, account, twilio, workers: list[Process]) -> Process:
    """A usage charge through the balancer takes the account below its alert; the SMS reaches the
    provider, which holds the request unanswered. Returns the worker caught mid-send."""
    twilio.hold_next()
    charge = {"account": account.pk, "amount": "60.00", "currency": "USD", "idempotency_key": "cluster-alert"}
    charge["description"] = "crosses the alert threshold"
    http = browser(balancer_url)
    http.headers["Authorization"] = f"Bearer {token}"
    response = http.post(f"{balancer_url}/api/v1/charges", json=charge, timeout=30)
    assert response.status_code == 201, response.text
    wait_until(lambda: len(twilio.requests) == 1, timeout=60, what="the alert's SMS to reach the provider")
    return worker_holding(workers, "accounts.tasks.send_sms")


def alert_sent_once(account, twilio, killed: Process, survivor: Process) -> dict:
    """The very message the killed worker held reached the other worker; one SMS row, sent on its
    second attempt; the provider got it at most twice (the held request and the redelivered one,
    both with the same idempotency token): the duplicate is counted."""
    from accounts.models import BalanceAlert, OutboundSms

    [task_id] = received(killed, "accounts.tasks.send_sms")
    assert task_id in received(survivor, "accounts.tasks.send_sms"), "the killed worker's task was not redelivered"

    wait_until(
        lambda: list(OutboundSms.objects.filter(account=account).values_list("status", flat=True)) == ["sent"],
        timeout=60,
        what="the redelivered alert SMS to be sent",
    )
    [alert] = BalanceAlert.objects.filter(account=account)
    [sms] = OutboundSms.objects.filter(account=account)
    posts = [r for r in twilio.requests if r["form"].get("Body") == alert.text]
    assert sms.attempts == 2, sms.attempts
    assert 1 <= len(posts) <= 2, len(posts)
    assert {r["headers"]["I-Twilio-Idempotency-Token"] for r in posts} == {sms.dedupe_key}
    return {"sms_rows": 1, "sms_posts": len(posts), "sms_duplicates": len(posts) - 1}


def every_email_sent(accounts, *, since) -> int:
    """The e-mails the storm queued (credits, confirmations): all sent, by the worker left standing.
    (What the test process itself queued while preparing went to its own broker, not RabbitMQ.)"""
    from accounts.models import OutboundEmail

    emails = OutboundEmail.objects.filter(account__in=accounts, created_at__gte=since)

    def all_sent() -> bool:
        return not emails.exclude(status=OutboundEmail.Status.SENT).exists()

    if not wait_for(all_sent, timeout=120):
        statuses = Counter(emails.values_list("status", flat=True))
        raise AssertionError(f"e-mails of the storm not all sent after 120 s: {statuses}")
    return emails.count()


# --- Two beats --------------------------------------------------------------------------------


def tasks_run(workers: list[Process], task: str) -> Counter:
    """How often each message of `task` (by task id) succeeded, over every worker's log."""
    logs = "".join(worker.log() for worker in workers)
    return Counter(re.findall(rf"{re.escape(task)}\[(\S+)\] succeeded", logs))


def sent_by_the_sweep(workers: list[Process]) -> int:
    """E-mails resend_pending_emails sent: pending 10 s or more, their task lost (a web node killed
    between its commit and its publish) or still queued behind the storm's."""
    logs = "".join(worker.log() for worker in workers)
    return sum(int(n) for n in re.findall(r"resend_pending_emails\[\S+\] succeeded in [\d.]+s: (\d+)", logs))


def let_the_beats_run(periods: int = 10) -> None:
    """Keep both beats running until `periods` heartbeat periods have been claimed: a storm that
    ends sooner than that (a fast machine) would otherwise leave the count below the check's floor."""
    from billing_center.models import PeriodicRun

    wait_until(
        lambda: PeriodicRun.objects.filter(task="worker-heartbeat").count() >= periods,
        timeout=60,
        what=f"the beats to claim {periods} heartbeat periods",
    )


def count_the_beats(beats: list[Process], workers: list[Process]) -> dict:
    """Beats stopped: each entry was claimed once per period it fired in (PeriodicRun is unique per
    entry and period), the other beat stood back, and the workers ran each published task once."""
    from billing_center.models import PeriodicRun

    runs = Counter(PeriodicRun.objects.values_list("task", flat=True))
    for entry, task in BEAT_ENTRIES.items():
        # The last periods' tasks may still be on their way to a worker when the beats stop.
        wait_until(
            lambda task=task, entry=entry: sum(tasks_run(workers, task).values()) >= runs[entry],
            timeout=60,
            what=f"the workers to run every {entry} the beats sent",
        )
        ran = tasks_run(workers, task)
        assert len(ran) == runs[entry], (entry, runs[entry], len(ran))
        assert set(ran.values()) == {1}, (entry, ran.most_common(3))  # no message ran twice
    logs = [beat.log() for beat in beats]
    sent_by = [log.count(": sent for ") for log in logs]
    assert sum(sent_by) == sum(runs.values()), (sent_by, runs)
    starts = sorted(PeriodicRun.objects.filter(task="worker-heartbeat").values_list("period_start", flat=True))
    periods = round((starts[-1] - starts[0]).total_seconds()) + 1
    assert runs["worker-heartbeat"] >= 10, runs
    return {
        "beat_runs": dict(runs),
        "beat_sent_by": sent_by,
        "beat_skipped": sum(log.count("another beat sent it") for log in logs),
        "heartbeat_periods": periods,
        "heartbeat_missed": periods - runs["worker-heartbeat"],
    }


# --- The closing figures ------------------------------------------------------------------------


@dataclass
class Kill:
    what: str
    at: float  # seconds into the storm


@dataclass
class Figures:
    storm: dict
    outcome: storm.Outcome
    kills: list[Kill]
    extra: dict = field(default_factory=dict)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        s, e, o = self.storm, self.extra, self.outcome
        requests_sent = sum(o.statuses.values()) + o.unanswered + THROUGH_NGINX["sent"]
        kills = "; ".join(f"{kill.what} at {kill.at:.1f} s" for kill in self.kills)
        return [
            "cluster: nginx (TLS) -> 2 gunicorn nodes, 2 Celery workers, 2 beats, PgBouncer (transaction), "
            "RabbitMQ, S3 (moto); production settings, CLUSTER=true",
            f"  requests   {requests_sent:,} through nginx: {s['deliveries']:,} webhook deliveries, "
            f"{o.statuses[('charge', 201)] + o.statuses[('charge', 200)]:,} charge posts, "
            f"{s['tickets'] + s['double_clicks']} confirmations, {THROUGH_NGINX['sent']} for the other checks; "
            f"{o.unanswered} sent again by their clients, {s['redelivered']} delivered again by nginx",
            f"  credits    {s['credits']:,} top-ups and {s['tickets']} tickets credited once, {s['charges']:,} "
            f"charges debited once, {s['balances_checked']} balances exact, verify_ledger clean",
            f"  kills      {len(self.kills)} (SIGKILL): {kills}",
            f"  duplicates {s['duplicates_rejected']:,} webhook duplicates rejected, {s['charge_replays']} charge "
            f"replays, {s['double_clicks']} double clicks; alert SMS: {e['sms_rows']} row sent, "
            f"{e['sms_posts']} posts to the provider ({e['sms_duplicates']} duplicate, counted)",
            f"  worker     {e['emails']} e-mails sent ({e['swept']} by the resend sweep), 0 lost; the killed "
            "worker's SMS redelivered by RabbitMQ and sent by the other",
            f"  scheduler  2 beats over {e['heartbeat_periods']} one-second periods: runs {e['beat_runs']}, "
            f"each run once; sent by each beat {e['beat_sent_by']}, {e['beat_skipped']} skipped as already "
            f"sent, {e['heartbeat_missed']} periods missed",
            f"  proxy      {FAILURE_LIMIT} failures from {CLIENT_X} locked it out (its own X-Forwarded-For too), "
            f"{CLIENT_Y} signed in; session cookie Secure + HttpOnly, HSTS; a node over plain http: 301",
            f"  5xx        {s['5xx']}",
            f"  time       storm {s['seconds']} s; whole run {self.seconds:.0f} s",
        ]
