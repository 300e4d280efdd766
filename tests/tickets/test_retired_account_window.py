"""A customer who paid to a receiving account retired since can still name it on a ticket,
within the window finance sets on that account; finance sees the retired-account warning."""

from datetime import timedelta

import pytest
from django.utils import timezone

from money.errors import Invalid
from tests.tickets.conftest import ticket_form_data
from tickets.models import ReceivingAccount, TransferTicket
from tickets.receiving_accounts import RETIRED_TICKET_WINDOW, add_receiving_account, set_ticket_window

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client, customer):
    client.force_login(customer)
    return customer


def replace(bank: ReceivingAccount) -> ReceivingAccount:
    """Finance adds the new USD account, which retires `bank`."""
    add_receiving_account(
        account=ReceivingAccount(
            bank_name="New Bank", account_name="BC", account_number="11112222", swift_bic="DEUTDEFF", currency="USD"
        )
    )
    bank.refresh_from_db()
    return bank


def choices(client) -> list[str]:
    form = client.get("/billing/tickets/new/").context["form"]
    return [str(pk) for pk, _ in form.fields["receiving_account"].choices]


def test_retiring_opens_the_default_window_and_the_retired_account_is_offered_last(client, alice, bank):
    retired = replace(bank)
    assert retired.tickets_until == retired.retired_at + RETIRED_TICKET_WINDOW
    offered = choices(client)
    assert offered[-1] == str(bank.pk) and len(offered) == 2
    response = client.post("/billing/tickets/new/", ticket_form_data(bank))
    assert response.status_code == 303
    assert TransferTicket.objects.get().receiving_account == bank


def test_after_the_window_a_retired_account_is_refused_unless_an_invoice_printed_it(client, alice, bank):
    retired = replace(bank)
    set_ticket_window(account_id=retired.pk, until=retired.retired_at)  # finance closes it: the day it retired
    assert str(bank.pk) not in choices(client)
    response = client.post("/billing/tickets/new/", ticket_form_data(bank))
    assert response.status_code == 400 and "receiving_account" in response.context["form"].errors
    assert not TransferTicket.objects.exists()


def test_finance_can_lengthen_or_close_the_window_but_not_before_retirement_or_on_a_current_account(bank):
    with pytest.raises(Invalid, match="Only a retired account"):
        set_ticket_window(account_id=bank.pk, until=timezone.now())
    retired = replace(bank)
    longer = retired.retired_at + timedelta(days=365)
    assert set_ticket_window(account_id=retired.pk, until=longer).tickets_until == longer
    with pytest.raises(Invalid, match="before the account was retired"):
        set_ticket_window(account_id=retired.pk, until=retired.retired_at - timedelta(days=1))
    assert set_ticket_window(account_id=retired.pk, until=None).tickets_until is None


def test_finance_extends_and_closes_the_window_from_admin(client, bank, clerk):
    from tests.helpers import staff_login

    retired = replace(bank)
    set_ticket_window(account_id=retired.pk, until=retired.retired_at)
    staff_login(client, clerk)
    changelist = "/admin/tickets/receivingaccount/"
    response = client.post(
        changelist, {"action": "extend_ticket_window", "_selected_action": [retired.pk]}, follow=True
    )
    assert "accepted until" in response.content.decode()
    retired.refresh_from_db()
    assert retired.tickets_until > timezone.now() + timedelta(days=89)
    assert "tickets accepted until" in client.get(changelist).content.decode()
    client.post(changelist, {"action": "close_ticket_window", "_selected_action": [retired.pk]})
    retired.refresh_from_db()
    assert retired.tickets_until is None
