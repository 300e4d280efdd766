# ruff: noqa: F811  (pytest fixtures imported from other test modules, named as parameters)
"""Finance's ticket actions, the deadline check and the statement import's automatic credit, raced on PostgreSQL with
real threads against each other and a customer filing a ticket: each writer is product code, the test only holds the
account as a writer does, to line them up. None deadlocks (the import had read the account under its lock before the
transfer's, and deadlocked with finance confirming the ticket; found by a helper)."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone
from djmoney.money import Money

from accounts.models import Account, LedgerEntry
from accounts.verification import ledger_mismatches
from tests.concurrency.test_lock_order import Background, waiting_for_locks
from tests.conftest import wait_for
from tests.tickets.conftest import (  # noqa: F401
    bank,
    certificate_dir,
    checker,
    clerk,
    customer,
    finance_group,
    make_ticket,
    ticket_form_data,
)
from tests.tickets.statement_files import Entry, camt053
from tickets.deadlines import flag_ticket_deadlines
from tickets.models import StatementLine, TransferTicket
from tickets.references import payment_reference
from tickets.review import confirm_and_credit
from tickets.statements.importing import import_statement

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def outcome(background):
    try:
        return background.join()
    except Exception as exc:  # noqa: BLE001
        return exc


def test_a_statement_import_auto_crediting_a_ticket_while_finance_confirms_it_does_not_deadlock(
    customer,
    bank,
    clerk,
    checker,
    settings,  # noqa: F811
):
    """The import's automatic credit of a line matched to a ticket (_credit_one) now locks the account before the
    transfer's lock and the ticket; finance's confirmation takes the transfer's lock and the ticket before the
    account. Both lined up behind a ledger writer holding the account: neither may fail."""
    settings.STATEMENT_AUTO_CREDIT = True
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": 5000}
    ticket = make_ticket(customer, bank, bank_reference="FT-TICKET", amount=Money("250.00", "USD"))
    data = camt053([Entry("250.00", "FT-TICKET", creditor_reference=payment_reference(customer.account_id))])

    with transaction.atomic():
        Account.objects.select_for_update(no_key=True).get(pk=customer.account_id)  # a ledger writer
        importing = Background(
            lambda: import_statement(receiving_account_id=bank.pk, data=data, name="s.xml", actor=checker)
        )
        assert wait_for(lambda: waiting_for_locks() >= 1)
        confirming = Background(
            lambda: confirm_and_credit(
                ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="FT-TICKET"
            )
        )
        assert wait_for(lambda: waiting_for_locks() >= 2)
    results = {"import": outcome(importing), "confirm": outcome(confirming)}
    assert not [r for r in results.values() if isinstance(r, Exception)], results
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 1
    assert ledger_mismatches() == []


def test_a_ticket_filed_while_the_deadline_check_flags_its_duplicate_does_not_deadlock(
    customer,
    bank,
    settings,  # noqa: F811
):
    """The deadline check (tickets.deadlines) locks an overdue ticket together with its account FOR UPDATE; a
    customer files a ticket that duplicates it (same certificate): intake inserts its ticket (a key-share lock on
    the account), then marks the older ticket a possible duplicate. Lined up behind a ledger writer holding the
    account: neither may fail (the customer's page a 500, or the periodic task)."""
    old = make_ticket(customer, bank)
    TransferTicket.objects.filter(pk=old.pk).update(due_at=timezone.now() - timedelta(days=1))
    browser = Client(raise_request_exception=False)
    browser.force_login(customer)

    with transaction.atomic():
        Account.objects.select_for_update(no_key=True).get(pk=customer.account_id)  # a ledger writer
        deadlines = Background(lambda: flag_ticket_deadlines())
        assert wait_for(lambda: waiting_for_locks() >= 1)
        filing = Background(lambda: browser.post("/billing/tickets/new/", ticket_form_data(bank)))
        assert wait_for(lambda: waiting_for_locks() >= 2)
    results = {"deadlines": outcome(deadlines), "filing": outcome(filing)}
    assert not isinstance(results["deadlines"], Exception), results
    assert results["filing"].status_code == 303, results["filing"].status_code
    assert TransferTicket.objects.filter(account=customer.account_id).count() == 2


def test_a_ticket_filed_for_a_credited_transfer_while_finance_takes_back_its_return_does_not_deadlock(
    customer,
    bank,
    clerk,
    settings,  # noqa: F811
):
    """Finance takes back a returned transfer (tickets.statements.take_back: the debit line, the credit line, then the
    account FOR UPDATE) while the customer files a ticket for that transfer, which intake links to the credit line
    (a key-share lock on the account by the ticket's insert, then the credit line). Lined up behind a ledger writer
    holding the account: neither may fail."""
    from datetime import date

    from tickets.statements.take_back import take_back_return

    settings.STATEMENT_AUTO_CREDIT = True
    rf = payment_reference(customer.account_id)
    import_statement(
        receiving_account_id=bank.pk,
        data=camt053([Entry("100.00", "FT-RET", creditor_reference=rf, booked=date(2026, 12, 1))], statement_id="S1"),
        name="S1.xml",
        actor=clerk,
    )
    import_statement(
        receiving_account_id=bank.pk,
        data=camt053(
            [Entry("-100.00", "FT-RET", remittance="RETURN AC04 account closed", booked=date(2026, 12, 2))],
            opening="1100.00",
            statement_id="S2",
        ),
        name="S2.xml",
        actor=clerk,
    )
    debit = StatementLine.objects.get(amount__lt=0)
    browser = Client(raise_request_exception=False)
    browser.force_login(customer)

    with transaction.atomic():
        Account.objects.select_for_update(no_key=True).get(pk=customer.account_id)  # a ledger writer
        taking = Background(lambda: take_back_return(line_id=debit.pk, actor=clerk))
        assert wait_for(lambda: waiting_for_locks() >= 1)
        filing = Background(
            lambda: browser.post(
                "/billing/tickets/new/", ticket_form_data(bank, bank_reference="FT-RET", amount="100.00")
            )
        )
        assert wait_for(lambda: waiting_for_locks() >= 2)
    results = {"take_back": outcome(taking), "filing": outcome(filing)}
    assert not isinstance(results["take_back"], Exception), results
    assert results["filing"].status_code == 303, results["filing"].status_code
