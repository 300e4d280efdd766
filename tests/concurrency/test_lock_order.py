"""Lock order on PostgreSQL. Every writer of an account's money takes the account row before the
account's other rows it changes (its bills, its auto top-up settings). Here each test holds the
account as such a writer does, lets the code under test come for it, then takes the second row as
that writer would next: a path that took them the other way round would be a deadlock."""

import threading

import pytest
from django.db import connection, transaction
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.lifecycle import change_account_type
from accounts.models import Account, LedgerEntry, OutboundEmail
from bills.models import Bill
from bills.reminders import send_bill_reminders
from bills.settlement import unapplied_credit
from tests.bills.conftest import NOVEMBER, at, charge, close
from tests.conftest import wait_for
from tests.factories import PostpaidAccountFactory, UserFactory
from tests.tickets.conftest import bank, certificate_dir, checker, clerk, customer, finance_group  # noqa: F401
from tests.tickets.statement_files import Entry, camt053
from tests.topups.conftest import card_on_file
from tickets.models import StatementLine
from tickets.references import payment_reference
from tickets.statements.crediting import confirm_line
from tickets.statements.importing import import_statement
from topups.auto_topup import run_auto_topup
from topups.models import AutoTopUp, TopUp

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class Background:
    """Run `fn` in a thread on its own connection; join() returns what it returned, or raises."""

    def __init__(self, fn):
        self.outcome: dict = {}
        self.thread = threading.Thread(target=self._run, args=(fn,))
        self.thread.start()

    def _run(self, fn):
        try:
            self.outcome["value"] = fn()
        except Exception as exc:  # a deadlock victim: raised again in join()
            self.outcome["error"] = exc
        finally:
            connection.close()

    def join(self):
        self.thread.join(60)
        assert not self.thread.is_alive(), "the background writer never finished"
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["value"]


def waiting_for_locks() -> int:
    """How many other connections to this database wait for a lock now (the writers a test lines up)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def blocked_or_done(background: Background) -> bool:
    """The background writer is waiting for a row lock (ours), or has finished without one."""
    if not background.thread.is_alive():
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else read once per transaction
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_a_declined_auto_top_up_is_recorded_while_the_customer_saves_the_settings(stripe_settings, fake_stripe):
    """The decline comes back while configure holds the account and is about to take the settings
    row. (Held as FOR NO KEY UPDATE here, so the decline's own rows that merely point at the
    account go through first, as they would a moment earlier.) The decline waits its turn."""
    user = UserFactory(username="alice", email="alice@example.com")
    account = user.account
    post_ledger_entry(account_id=account.pk, amount=Money("80.00", "USD"), kind="adjustment", source_ref="seed")
    card_on_file(user)
    fake_stripe.card_declines = True
    fake_stripe.hold_charges = threading.Event()
    post_ledger_entry(account_id=account.pk, amount=Money("-40.00", "USD"), kind="usage", source_ref="u1")

    worker = Background(lambda: run_auto_topup(account_id=account.pk))
    assert fake_stripe.charge_asked.wait(30)
    with transaction.atomic():
        Account.objects.select_for_update(no_key=True).get(pk=account.pk)
        fake_stripe.hold_charges.set()  # Stripe answers: declined
        assert wait_for(lambda: blocked_or_done(worker))
        AutoTopUp.objects.select_for_update().get(account=account)
    topup = worker.join()

    assert topup.status == TopUp.Status.FAILED
    assert AutoTopUp.objects.get().failures_in_a_row == 1
    assert Account.objects.get(pk=account.pk).balance == Money("40.00", "USD")


def test_a_bill_reminder_waits_for_a_repayment_that_holds_the_account():
    """Settlement locks the account, then the bills it pays; the hourly reminder comes for the same
    bill meanwhile. The reminder waits for the account and then sees the bill as it was left."""
    account = PostpaidAccountFactory(name="Bob's Shop")
    UserFactory(username="bob", email="bob@example.com", account=account)
    charge(account, "40.00", at(2026, 11, 3), "a")
    bill = close(account, NOVEMBER, now=at(2026, 12, 1, 1))  # due 2026-12-16

    with transaction.atomic():
        Account.objects.select_for_update().get(pk=account.pk)
        reminders = Background(lambda: send_bill_reminders(now=at(2026, 12, 17, 9)))
        assert wait_for(lambda: blocked_or_done(reminders))
        Bill.objects.select_for_update().get(pk=bill.pk)
    assert reminders.join() == 1

    bill.refresh_from_db()
    assert (bill.status, bill.reminder) == (Bill.Status.OVERDUE, Bill.Reminder.OVERDUE)
    assert OutboundEmail.objects.filter(subject__contains="overdue").count() == 1


def test_a_statement_line_confirmed_while_its_account_turns_postpaid_repays_its_bills(
    customer,  # noqa: F811  (the fixtures imported above)
    bank,  # noqa: F811
    checker,  # noqa: F811
    clerk,  # noqa: F811
):
    """The type change holds the account; finance confirms the matched line meanwhile. The confirmation waits for
    the account and credits what the account is then: a postpaid account's transfer is a repayment, counted by its
    bills (it had been decided from the type read before the lock: a top-up no bill counted; found by a helper)."""
    account = customer.account
    statement = camt053([Entry("80.00", "FT-RACE-1", creditor_reference=payment_reference(account.pk))])
    import_statement(receiving_account_id=bank.pk, data=statement, name="s.xml", actor=checker)
    line = StatementLine.objects.get(bank_reference="FT-RACE-1")
    assert (line.state, line.account_id) == (StatementLine.State.MATCHED, account.pk)

    with transaction.atomic():
        change_account_type(account_id=account.pk, kind=Account.Type.POSTPAID)
        confirming = Background(lambda: confirm_line(line_id=line.pk, actor=clerk))
        assert wait_for(lambda: blocked_or_done(confirming))
    confirming.join()

    line.refresh_from_db()
    assert line.ledger_entry.kind == LedgerEntry.Kind.REPAYMENT
    assert unapplied_credit(account.pk, "USD") == Money("80.00", "USD")  # what the balance says it paid


def test_a_ticket_filed_while_the_account_turns_a_member_is_refused(bank, clerk):  # noqa: F811
    """The type change holds the account; the customer's ticket comes meanwhile. The ticket waits for the account and
    is refused: the account is a member now. It had been read without the lock, filed, left open on the member and
    credited once finance confirmed it (found by a helper)."""
    from django.test import Client

    from tests.factories import PrepaidAccountFactory
    from tests.tickets.conftest import ticket_form_data
    from tickets.models import TransferTicket

    account = PrepaidAccountFactory(name="Carol")
    carol = UserFactory(username="carol", account=account, email="carol@example.com")
    master = PrepaidAccountFactory(name="Dave Corp")
    browser = Client()
    browser.force_login(carol)

    with transaction.atomic():
        change_account_type(account_id=account.pk, kind=Account.Type.ENTERPRISE_MEMBER, enterprise_master_id=master.pk)
        filing = Background(lambda: browser.post("/billing/tickets/new/", ticket_form_data(bank, bank_reference="R-1")))
        assert wait_for(lambda: blocked_or_done(filing))
    page = filing.join()

    assert page.status_code in (400, 403) and "enterprise" in page.content.decode().lower()
    assert not TransferTicket.objects.filter(account=account).exists()
