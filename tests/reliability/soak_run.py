"""`make soak-run`: cold starts of the real `make run`, each driven end to end, counting crashed processes.

Each start gets a fresh data folder (BILLING_VAR_DIR) and a free loopback port (PORT) and runs `make run`
(migrate, collectstatic, seed_demo, then bin/run-supervised with web, worker, beat and usage) in its own
session. Once /healthz reports a worker, it acts as alice over HTTP: one top-up through the sandbox
gateway (Pay form, the sandbox's page, Pay) until the return page says credited; one Transfer Ticket with
a PDF certificate until the ticket list shows it; then one usage charge (manage.py shell) takes her below
her alert threshold, until the worker prints her alert SMS. The run is kept up for --hold seconds after
it became healthy (beat publishes its first tasks 30 s after it starts), then stopped as Ctrl-C does.

A process counts as crashed when the supervisor reported it exiting by itself, or when its output holds
a traceback, a JSONDecodeError, Celery's "Unrecoverable error" or a broker file rejected as unreadable.
Processes still alive after the stop are killed by PID and counted as leftovers.

    make soak-run                                        # 30 cold starts
    make soak-run SOAK_ARGS="--starts 5 --stock"         # on stock kombu's file transport, for comparison
"""

import argparse
import io
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urljoin

import requests

from tests.reliability.processes import ROOT, free_port

PYTHON = str(ROOT / ".venv" / "bin" / "python")
STOCK_TRANSPORT = "kombu.transport.filesystem:Transport"
PASSWORD = os.environ.get("DEMO_PASSWORD", "billing-demo-2026")  # the Makefile's demo password
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
PROCESS_LINE = re.compile(r"^\d\d:\d\d:\d\d (\S+)\s*\| (.*)$")
CRASH_IN_OUTPUT = re.compile(r"Traceback \(most recent|JSONDecodeError|Unrecoverable error|unreadable message")
ALERT_SMS = re.compile(r"^\S+ worker\s*\|.*SMS to .*below your alert threshold", re.M)
SUPERVISOR_EXIT = re.compile(r"^run-supervised: (\S+) exited with")
# What `make run` must not inherit from whoever runs the soak: it tests the defaults.
NOT_INHERITED = (
    "DJANGO_SETTINGS_MODULE SITE_URL WEB_BIND CELERY_BROKER_URL CELERY_BROKER_TRANSPORT DATABASE_URL REDIS_URL "
    "BILLING_VAR_DIR PORT HOST MAKEFLAGS MFLAGS MAKELEVEL"
).split()
ALERT_SCRIPT = """
from decimal import Decimal
from djmoney.money import Money
from accounts.models import User
from accounts.usage_api.charges import ChargeRequest, post_usage_charges
account = User.objects.get(username="alice").account
gap = account.balance.amount - account.alert_threshold + Decimal("10.00")
if gap > 0:
    post_usage_charges(service="soak-run", requests=[ChargeRequest(account_id=account.pk,
        amount=Money(gap, account.billing_currency), idempotency_key="soak-run-alert", description="soak-run")])
print("alice's balance pushed below her threshold" if gap > 0 else "alice was already below her threshold")
"""


@dataclass
class Start:
    number: int
    healthy_after: float | None = None
    done: dict[str, bool] = field(default_factory=lambda: {"top-up": False, "ticket": False, "alert": False})
    crashed: list[str] = field(default_factory=list)
    leftovers: int = 0
    problem: str = ""


def certificate_pdf() -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, "Bank transfer certificate (soak-run)")
    page.save()
    return buffer.getvalue()


def wait_for(condition, *, timeout: float, what: str, alive=lambda: True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"`make run` exited while waiting for {what}")
        try:
            value = condition()
        except requests.RequestException:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")


def csrf(response) -> str:
    return CSRF.search(response.text).group(1)


def sign_in(session, base: str) -> None:
    page = session.get(f"{base}/login/", timeout=10)
    answer = session.post(
        f"{base}/login/",
        data={"csrfmiddlewaretoken": csrf(page), "username": "alice", "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, f"sign-in answered {answer.status_code}"


def top_up(session, base: str, alive) -> None:
    page = session.get(f"{base}/billing/pay/", timeout=10)
    form = dict(HIDDEN.findall(page.text)) | {"amount": "100.00"}
    answer = session.post(f"{base}/billing/pay/", data=form, allow_redirects=False, timeout=30)
    assert answer.status_code == 303, f"the Pay form answered {answer.status_code}"
    checkout = urljoin(base, answer.headers["Location"])
    page = session.get(checkout, timeout=10)
    paid = session.post(
        checkout, data={"csrfmiddlewaretoken": csrf(page), "outcome": "pay"}, allow_redirects=False, timeout=30
    )
    detail = urljoin(base, paid.headers["Location"])
    wait_for(
        lambda: "your balance has been credited" in session.get(detail, timeout=10).text,
        timeout=90,
        what="the top-up to be credited",
        alive=alive,
    )


def file_ticket(session, base: str, number: int, pdf: bytes, alive) -> None:
    page = session.get(f"{base}/billing/tickets/new/", timeout=10)
    select = re.search(r'<select name="receiving_account".*?</select>', page.text, re.S).group(0)
    form = {
        "csrfmiddlewaretoken": csrf(page),
        "payer_name": "Alice Soak",
        "payer_bank": "Soak Bank",
        "payer_account": "123456789",
        "amount": "250.00",
        "currency": "USD",
        "transfer_date": date.today().isoformat(),
        "bank_reference": f"SOAK{number:03d}{secrets.token_hex(3).upper()}",
        "receiving_account": re.search(r'<option value="(\d+)"', select).group(1),
        "contact_name": "Alice",
        "contact_email": "alice@example.com",
        "problem_description": "soak-run",
    }
    files = {"certificates": ("certificate.pdf", pdf, "application/pdf")}
    answer = session.post(f"{base}/billing/tickets/new/", data=form, files=files, allow_redirects=False, timeout=30)
    assert answer.status_code == 303, f"the ticket form answered {answer.status_code}"
    ticket = answer.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    wait_for(
        lambda: ticket in session.get(f"{base}/billing/tickets/", timeout=10).text,
        timeout=30,
        what=f"ticket {ticket} in the list",
        alive=alive,
    )


def cross_alert(env: dict, log: Path, alive) -> None:
    shell = [PYTHON, "manage.py", "shell", "-c", ALERT_SCRIPT]
    done = subprocess.run(shell, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"manage.py shell failed:\n{done.stdout}{done.stderr}"
    wait_for(
        lambda: ALERT_SMS.search(log.read_text(errors="replace")),
        timeout=90,
        what="alice's alert SMS on the worker's console",
        alive=alive,
    )


def our_processes(var: Path) -> list[int]:
    """PIDs of every process started for this data folder (they carry BILLING_VAR_DIR in their environment)."""
    marker = f"BILLING_VAR_DIR={var}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def stop(make: subprocess.Popen, var: Path) -> int:
    """Ctrl-C, as a person would; then whatever is left is killed by PID and counted."""
    for sig, wait in ((signal.SIGINT, 40), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if make.poll() is None:
            os.killpg(make.pid, sig)
            try:
                make.wait(wait)
            except subprocess.TimeoutExpired:
                continue
    deadline = time.monotonic() + 15
    while our_processes(var) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = our_processes(var)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(left)


def crashed_processes(log_text: str) -> list[str]:
    """One entry per crash: each exit the supervisor reported, and each other process whose output
    shows a crash (a traceback is several matching lines of one process: counted once)."""
    exits, printed = [], {}
    for line in log_text.splitlines():
        exited, process = SUPERVISOR_EXIT.match(line), PROCESS_LINE.match(line)
        if exited:
            exits.append(line.removeprefix("run-supervised: "))
        elif process and CRASH_IN_OUTPUT.search(process.group(2)):
            printed.setdefault(process.group(1), f"{process.group(1)} printed: {process.group(2).strip()}")
        elif not process and CRASH_IN_OUTPUT.search(line):
            printed.setdefault("make run", f"make run printed: {line.strip()}")
    exited_names = {line.split(" ", 1)[0] for line in exits}
    return exits + [entry for name, entry in printed.items() if name not in exited_names]


def cold_start(number: int, folder: Path, args, pdf: bytes) -> Start:
    result = Start(number)
    var = folder / f"start-{number:02d}" / "var"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(BILLING_VAR_DIR=str(var), PORT=str(port), PYTHONUNBUFFERED="1")
    if args.stock:
        env["CELERY_BROKER_TRANSPORT"] = STOCK_TRANSPORT
        for sub in ("queue", "control"):  # stock kombu cannot make its folders
            (var / "celery-broker" / sub).mkdir(parents=True, exist_ok=True)
    var.mkdir(parents=True, exist_ok=True)
    log = var.parent / "make-run.log"
    with log.open("wb") as out:
        make = subprocess.Popen(
            ["make", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    started, alive = time.monotonic(), lambda: make.poll() is None
    shell_env = env | {"DJANGO_SETTINGS_MODULE": "billing_center.settings.base"}  # as manage.py under make run
    try:
        wait_for(
            lambda: requests.get(f"{base}/healthz", timeout=5).json()["status"] == "ok",
            timeout=args.timeout,
            what="/healthz",
            alive=alive,
        )
        result.healthy_after = time.monotonic() - started
        healthy_at = time.monotonic()
        session = requests.Session()
        sign_in(session, base)
        for name, step in (
            ("top-up", lambda: top_up(session, base, alive)),
            ("ticket", lambda: file_ticket(session, base, number, pdf, alive)),
            ("alert", lambda: cross_alert(shell_env, log, alive)),
        ):
            step()
            result.done[name] = True
        while alive() and time.monotonic() - healthy_at < args.hold:
            time.sleep(0.5)
    except Exception as exc:  # the start failed; its log says why
        result.problem = f"{type(exc).__name__}: {exc}"
    finally:
        result.leftovers = stop(make, var)
    result.crashed = crashed_processes(log.read_text(errors="replace"))
    if not (result.crashed or result.problem or result.leftovers or args.keep):
        shutil.rmtree(var, ignore_errors=True)  # keep only the log of a clean start
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Cold starts of `make run`, counting crashed processes.")
    parser.add_argument("--starts", type=int, default=30)
    parser.add_argument("--hold", type=float, default=40, help="seconds each run stays up after /healthz is ok")
    parser.add_argument("--timeout", type=float, default=240, help="seconds to wait for /healthz")
    parser.add_argument("--stock", action="store_true", help=f"run on {STOCK_TRANSPORT} instead of ours")
    parser.add_argument("--keep", action="store_true", help="keep every data folder, not only failed ones")
    parser.add_argument("--folder", type=Path, default=None, help="where the starts' folders and logs go")
    args = parser.parse_args(argv)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="billing-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    pdf, results = certificate_pdf(), []
    transport = STOCK_TRANSPORT if args.stock else "billing_center.file_broker:Transport"
    print(f"soak-run: {args.starts} cold starts of `make run` on {transport}; logs in {folder}", flush=True)
    for number in range(1, args.starts + 1):
        result = cold_start(number, folder, args, pdf)
        results.append(result)
        done = ", ".join(f"{name} {'ok' if ok else 'MISSING'}" for name, ok in result.done.items())
        healthy = f"{result.healthy_after:.0f} s" if result.healthy_after else "never"
        print(
            f"start {number}/{args.starts}: healthy after {healthy}; {done}; {len(result.crashed)} crashed"
            f"{' (' + '; '.join(result.crashed) + ')' if result.crashed else ''}"
            f"{'; ' + result.problem if result.problem else ''}"
            f"{f'; {result.leftovers} leftover processes killed' if result.leftovers else ''}",
            flush=True,
        )
    crashed = sum(len(r.crashed) for r in results)
    unfinished = sum(not all(r.done.values()) for r in results)
    leftovers = sum(r.leftovers for r in results)
    healthy = [r.healthy_after for r in results if r.healthy_after]
    counts = {name: sum(r.done[name] for r in results) for name in ("top-up", "ticket", "alert")}
    print(
        f"soak-run: {len(results)} cold starts, {crashed} crashed processes, {unfinished} starts with a step missing, "
        f"{leftovers} leftover processes; {counts['top-up']} top-ups credited, {counts['ticket']} tickets listed, "
        f"{counts['alert']} alert SMS; healthy after {statistics.median(healthy) if healthy else 0:.0f} s median, "
        f"{max(healthy, default=0):.0f} s max; transport {transport}",
        flush=True,
    )
    return 0 if crashed == unfinished == leftovers == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
