"""Races on PostgreSQL around an account's type and a ticket's intake: a late card payment applied by the worker
while its account turns an enterprise member is flagged, not credited (topups.notices reads the type under the
account's lock); a Transfer Ticket filed while finance acts on another ticket of the account, lined up behind a
writer holding the account, does not deadlock (intake takes the account last, review locks the ticket alone, money
writers take the account FOR NO KEY UPDATE). Each writer is product code; the test only holds a row, to line the
writers up (found by a helper)."""

import pytest
from django.db import transaction
from django.test import Client
from djmoney.money import Money

from accounts.lifecycle import change_account_type
from accounts.models import Account, LedgerEntry
from tests.concurrency.test_lock_order import Background, blocked_or_done, waiting_for_locks
from tests.conftest import wait_for
from tests.factories import PendingTopUpFactory, PrepaidAccountFactory, UserFactory
from tests.fakes.stripe import event, paid_session, post_webhook, signed
from tests.helpers import staff_login, through_confirmation
from tests.intake import apply_stored
from tests.tickets.conftest import bank, certificate_dir, clerk, finance_group, make_ticket, ticket_form_data  # noqa: F401
from tickets.models import TransferTicket
from topups.models import TopUp
from topups.notices import close_topup

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_late_card_payment_applied_while_its_account_turns_a_member_is_not_credited_to_the_member(
    client, stripe_settings
):
    """The worker had decided the payment from the account's type read without its lock, then waited for the lock to
    credit: the type change committed meanwhile and the member was credited a top-up."""
    carol_account = PrepaidAccountFactory(name="Carol")
    carol = UserFactory(username="carol", account=carol_account, email="carol@example.com")
    late = PendingTopUpFactory(account=carol_account, created_by=carol, amount=Money("80.00", "USD"))
    assert close_topup(late.pk, status=TopUp.Status.EXPIRED, reason="expired")
    master = PrepaidAccountFactory(name="Dave Corp")
    stored = post_webhook(
        client, *signed(event("checkout.session.completed", paid_session(late, payment_intent="pi_x")))
    )
    assert stored.status_code == 200

    with transaction.atomic():
        change_account_type(
            account_id=carol_account.pk, kind=Account.Type.ENTERPRISE_MEMBER, enterprise_master_id=master.pk
        )
        worker = Background(apply_stored)
        assert wait_for(lambda: blocked_or_done(worker))
    worker.join()

    late.refresh_from_db()
    carol_account.refresh_from_db()
    assert carol_account.type == Account.Type.ENTERPRISE_MEMBER
    assert late.ledger_entry is None and late.needs_review, "credited to an enterprise member"
    assert carol_account.balance == Money("0.00", "USD")
    assert not LedgerEntry.objects.filter(account=carol_account).exists()


def test_a_ticket_filed_while_finance_rejects_its_duplicate_does_not_deadlock(bank, clerk):  # noqa: F811
    """Finance's ticket actions had locked the ticket, then its account; intake had locked the account, then flagged
    the account's other ticket with the same certificate: lined up behind a writer holding the account, each held
    what the other waited for, and one of them was a 500."""
    account = PrepaidAccountFactory(name="Carol")
    carol = UserFactory(username="carol", account=account, email="carol@example.com")
    first = make_ticket(carol, bank)  # the same certificate as the form's: the new one is its possible duplicate
    # Each client's own 500 (a test Client re-raises any thread's request exception otherwise).
    customer_browser, finance_browser = Client(raise_request_exception=False), Client(raise_request_exception=False)
    customer_browser.force_login(carol)
    staff_login(finance_browser, clerk)
    url = "/admin/tickets/transferticket/?due=all"

    with transaction.atomic():
        Account.objects.select_for_update().get(pk=account.pk)  # a ledger writer holds the account
        filing = Background(lambda: customer_browser.post("/billing/tickets/new/", ticket_form_data(bank)))
        assert wait_for(lambda: waiting_for_locks() >= 1)
        rejecting = Background(
            lambda: through_confirmation(
                finance_browser, url, {"action": "reject", "_selected_action": [first.pk], "reason": "No such transfer"}
            )
        )
        assert wait_for(lambda: waiting_for_locks() >= 2)
    outcomes = {"filing": filing.join().status_code, "rejecting": rejecting.join().status_code}
    assert outcomes == {"filing": 303, "rejecting": 302}, outcomes
    assert TransferTicket.objects.filter(account=account).count() == 2


@pytest.mark.parametrize("finance_first", [True, False])
def test_a_ticket_filed_while_finance_credits_its_duplicate_does_not_deadlock(bank, clerk, finance_first):  # noqa: F811
    """Finance credits a ticket (the ticket, then its account) while the customer files another with the same
    certificate (which flags the first ticket, then takes the account): both go through, lined up behind a writer
    holding the account in either order; the new ticket says it is a possible duplicate."""
    from tickets.review import confirm_and_credit

    account = PrepaidAccountFactory(name="Carol")
    carol = UserFactory(username="carol", account=account, email="carol@example.com")
    first = make_ticket(carol, bank)
    customer_browser = Client(raise_request_exception=False)
    customer_browser.force_login(carol)

    def credit():
        return confirm_and_credit(
            ticket_id=first.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference=first.bank_reference
        )

    def file():
        return customer_browser.post("/billing/tickets/new/", ticket_form_data(bank)).status_code

    with transaction.atomic():
        Account.objects.select_for_update().get(pk=account.pk)  # a writer holds the account
        one = Background(credit if finance_first else file)
        assert wait_for(lambda: waiting_for_locks() >= 1)
        other = Background(file if finance_first else credit)
        assert wait_for(lambda: waiting_for_locks() >= 2)
    outcomes = [one.join(), other.join()]
    filed = outcomes[1] if finance_first else outcomes[0]
    assert filed == 303
    first.refresh_from_db()
    assert first.status == TransferTicket.Status.CREDITED
    assert TransferTicket.objects.get(account=account, pk__gt=first.pk).possible_duplicate
    account.refresh_from_db()
    assert account.balance == Money("250.00", "USD")
