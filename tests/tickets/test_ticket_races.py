"""Finance racing itself on PostgreSQL: threads released together, each with its own connection."""

from decimal import Decimal

import pytest
from django.test import Client
from djmoney.money import Money

from accounts.models import LedgerEntry
from accounts.verification import ledger_mismatches
from tests.concurrency.test_races import race
from tests.helpers import staff_login
from tests.tickets.conftest import make_ticket
from tests.tickets.test_finance_admin import CHANGELIST, confirm_fields
from tickets.exceptions import TicketNotAllowed, TicketStateError
from tickets.models import TransferTicket
from tickets.review import approve_credit, confirm_and_credit, reject_ticket, withdraw_proposal

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def confirm(ticket, actor):
    return lambda: confirm_and_credit(
        ticket_id=ticket.pk, actor=actor, received=Money("250.00", "USD"), bank_reference="STMT"
    )


def test_two_clerks_and_a_double_click_confirming_at_once_credit_once(customer, bank, clerk, checker):
    ticket = make_ticket(customer, bank)
    results = race([confirm(ticket, clerk), confirm(ticket, clerk), confirm(ticket, checker), confirm(ticket, checker)])
    assert [type(r).__name__ for r in results] == ["ConfirmOutcome"] * 4
    assert sum(not r.already for r in results) == 1
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 1
    customer.account.refresh_from_db()
    assert customer.account.balance == Money("250.00", "USD")
    assert ledger_mismatches() == []


@pytest.mark.parametrize("round_", range(5))
def test_confirm_versus_reject_ends_with_exactly_one_outcome(customer, bank, clerk, checker, round_):
    ticket = make_ticket(customer, bank)
    results = race(
        [confirm(ticket, clerk), lambda: reject_ticket(ticket_id=ticket.pk, actor=checker, reason="Not received.")]
    )
    ticket.refresh_from_db()
    entries = LedgerEntry.objects.filter(kind="bank_transfer").count()
    if ticket.status == "credited":
        assert entries == 1 and isinstance(results[1], TicketStateError)
    else:
        assert ticket.status == "rejected" and entries == 0 and isinstance(results[0], TicketStateError)
    assert ledger_mismatches() == []


def test_two_checkers_approving_one_proposal_at_once_credit_once(
    customer, bank, clerk, checker, finance_group, settings
):
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("100")}
    from tests.tickets.conftest import finance_clerk

    third = finance_clerk(finance_group, "grace")
    ticket = make_ticket(customer, bank)
    confirm(ticket, clerk)()
    results = race(
        [
            lambda: approve_credit(ticket_id=ticket.pk, actor=checker),
            lambda: approve_credit(ticket_id=ticket.pk, actor=third),
            lambda: approve_credit(ticket_id=ticket.pk, actor=clerk),  # the maker: always refused
        ]
    )
    # The maker is refused, or (if a checker already credited it) told it was already credited.
    maker = results[2]
    assert isinstance(maker, TicketNotAllowed) or (maker.credited and maker.already)
    assert sum(getattr(r, "already", True) is False for r in results[:2]) == 1
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 1
    ticket.refresh_from_db()
    assert ticket.status == "credited" and ticket.decided_by in (checker, third)


@pytest.mark.parametrize("round_", range(5))
def test_the_checker_approving_while_the_maker_withdraws_ends_with_exactly_one_outcome(
    customer, bank, clerk, checker, settings, round_
):
    """Credited once with the proposal's figures, or withdrawn with nothing posted: never both."""
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("100")}
    ticket = make_ticket(customer, bank)
    confirm(ticket, clerk)()
    approving, withdrawing = race(
        [
            lambda: approve_credit(ticket_id=ticket.pk, actor=checker),
            lambda: withdraw_proposal(ticket_id=ticket.pk, actor=clerk),
        ]
    )
    ticket.refresh_from_db()
    entries = LedgerEntry.objects.filter(kind="bank_transfer").count()
    if ticket.status == "credited":
        assert entries == 1 and approving.credited and isinstance(withdrawing, TicketStateError)
    else:
        assert isinstance(approving, TicketStateError) and entries == 0
        assert (ticket.status, ticket.proposed_by, ticket.confirmed_bank_reference) == ("under_review", None, "")
    assert ledger_mismatches() == []


def test_concurrent_confirmation_posts_through_admin_credit_once(customer, bank, clerk, checker):
    ticket = make_ticket(customer, bank)

    def post_as(user):
        def run():
            client = Client()
            staff_login(client, user)
            data = {"action": "confirm_and_credit", "_selected_action": [str(ticket.pk)], **confirm_fields(ticket)}
            return client.post(CHANGELIST, data).status_code

        return run

    statuses = race([post_as(clerk), post_as(clerk), post_as(checker), post_as(checker)])
    assert statuses == [302] * 4
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 1
    assert TransferTicket.objects.get(pk=ticket.pk).status == "credited"
    assert ledger_mismatches() == []


def test_the_ticket_page_sent_ten_times_at_once_is_one_ticket(customer, bank, certificate_dir):
    """Found by a helper: 20 identical sendings at once had made 20 tickets. The page's key is unique
    per account in the database; the losers land on the winner's ticket, and keep no file."""
    from tests.tickets.conftest import ticket_form_data

    def send():
        client = Client()
        client.force_login(customer)
        response = client.post("/billing/tickets/new/", ticket_form_data(bank, request_key="one-page"))
        return response.status_code, response["Location"]

    results = race([send] * 10)
    ticket = TransferTicket.objects.get()
    assert results == [(303, f"/billing/tickets/{ticket.number}/")] * 10
    assert ticket.certificates.count() == 1
    assert len([path for path in certificate_dir.rglob("*") if path.is_file()]) == 1  # the losers kept no file
