"""Behind PgBouncer in transaction mode: a connection is ours for one transaction, then another
client's. The storm (the ledger raced by notifications, charges and confirmations), one bank
statement imported twice at once, a statement CSV and `verify_ledger` (both read with
`.iterator()`) run through it with DATABASE_PGBOUNCER=true, on four server connections."""

import csv
import io
import re
import subprocess
import sys
import threading
from types import SimpleNamespace

import requests

from tests.conftest import require
from tests.reliability.processes import ROOT, Gunicorn, PgBouncer, RedisServer, Workers, service_env
from tests.reliability.storm import (
    FINANCE_PASSWORD,
    SMALL,
    STRIPE_SECRET,
    Outcome,
    finance_session,
    prepare,
    run,
    summary_line,
    verify,
)

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def upload_statement(http: requests.Session, base_url: str, bank_id: int, data: bytes, answers: list) -> None:
    page = http.get(f"{base_url}/admin/tickets/statementfile/add/", timeout=30)
    response = http.post(
        f"{base_url}/admin/tickets/statementfile/add/",
        data={"receiving_account": bank_id, "csrfmiddlewaretoken": CSRF.search(page.text)[1]},
        files={"file": ("statement.xml", data, "text/xml")},
        allow_redirects=False,
        timeout=60,
    )
    answers.append(response.status_code)


def statement_csv(base_url: str, username: str) -> list[list[str]]:
    http = requests.Session()
    page = http.get(f"{base_url}/login/", timeout=30)
    form = {"username": username, "password": "secret-pass-123", "csrfmiddlewaretoken": CSRF.search(page.text)[1]}
    assert http.post(f"{base_url}/login/", data=form, allow_redirects=False, timeout=30).status_code == 302
    response = http.get(f"{base_url}/billing/statement/?format=csv", timeout=30)
    assert response.status_code == 200, response.status_code
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_ledger_storm_and_a_statement_import_hold_behind_pgbouncer_in_transaction_mode(database_url):
    require(PgBouncer.available(), "Debian's pgbouncer (apt-get install pgbouncer)")
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import LedgerEntry, User
    from tests.factories import UserFactory
    from tests.tickets.conftest import usd_receiving_account
    from tests.tickets.statement_files import Entry, camt053
    from tickets.models import StatementLine
    from tickets.references import payment_reference

    plan = prepare(SMALL)
    importer = SimpleNamespace(clerk=User.objects.create_user("importer", password=FINANCE_PASSWORD, is_staff=True))
    importer.clerk.groups.add(plan.clerk.groups.get())
    importer.device = TOTPDevice.objects.create(user=importer.clerk, name="importer", confirmed=True)
    payers = [UserFactory() for _ in range(3)]
    bank = usd_receiving_account()
    entries = [
        Entry(f"{100 + i}.00", f"BNC-{i}", creditor_reference=payment_reference(u.account_id))
        for i, u in enumerate(payers * 10)
    ]
    data = camt053(entries, statement_id="STMT-PGBOUNCER")

    with PgBouncer(database_url, pool_size=4) as bouncer, RedisServer() as redis:
        env = service_env(
            database_url=bouncer.url,
            broker_url=redis.url,  # the workers credit the stored deliveries, through PgBouncer too
            DATABASE_PGBOUNCER="true",
            STATEMENT_AUTO_CREDIT="true",
            STRIPE_SECRET_KEY="sk_test_storm",
            STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
        )
        with Gunicorn(env, workers=2, threads=4) as server, Workers(env, 2):
            uploads: list[int] = []
            clerk = finance_session(importer, server.url, Outcome())
            importers = [
                threading.Thread(target=upload_statement, args=(clerk, server.url, bank.pk, data, uploads))
                for _ in range(2)
            ]
            for thread in importers:
                thread.start()
            outcome = run(plan, server.url)
            for thread in importers:
                thread.join()
            rows = statement_csv(server.url, payers[0].username)
        verify_ledger = subprocess.run(
            [sys.executable, "manage.py", "verify_ledger"], env=env, cwd=ROOT, capture_output=True, text=True
        )
        pools = [p for p in bouncer.show("POOLS") if p["database"] == bouncer.database]

    figures = verify(plan, outcome)  # every source once, balances exact, no 5xx
    print(summary_line(figures, SMALL) + f"; through PgBouncer: {pools[0]['pool_mode']} pooling")
    assert verify_ledger.returncode == 0, verify_ledger.stdout + verify_ledger.stderr
    assert pools and pools[0]["pool_mode"] == "transaction"
    assert sorted(uploads)[0] == 302, uploads  # one import; the other is the same file, refused or a no-op
    assert StatementLine.objects.filter(state="credited").count() == len(entries)
    credits = LedgerEntry.objects.filter(kind="bank_transfer", account__in=[u.account_id for u in payers])
    assert credits.count() == len(entries)
    assert len(rows) == 1 + 10  # the header and her ten transfers, read through an ordinary cursor
