"""What finance reads in admin: one status word per ticket everywhere, the page it lands on after
an action, records that cannot be edited opening without Save buttons, History in words, and the
admin home's to-do counts with their links."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from accounts.models import OutboundSms
from tests.factories import PendingTopUpFactory, UserFactory
from tests.helpers import a_finance_zone_before_its_midnight, staff_login
from tests.tickets.conftest import make_ticket
from tests.tickets.test_finance_admin import CHANGELIST, action, approve, confirm_fields
from tickets.models import TransferTicket
from tickets.review import confirm_and_credit
from topups.models import Dispute

pytestmark = pytest.mark.django_db


def change_url(ticket) -> str:
    return f"{CHANGELIST}{ticket.pk}/change/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def status_words(page: str) -> set[str]:
    """The status each ticket on a page is shown with (the queue's badge, a page's heading)."""
    return set(re.findall(r'data-testid="(?:ticket-)?status">([^<]+)<', page))


def propose(ticket, clerk, settings, amount="5000.00"):
    """A maker's confirmation above the second-approval threshold: proposed, not credited."""
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("1000")}
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money(amount, "USD"), bank_reference="STMT-9")


# --- After an action: back on the ticket -----------------------------------------------------


@pytest.mark.parametrize(
    "name, fields, status",
    [
        ("confirm_and_credit", None, "credited"),
        ("request_information", {"post": "yes", "reason": "Send page two."}, "info_requested"),
        ("reject", {"post": "yes", "reason": "Not on our statement."}, "rejected"),
        ("start_review", {}, "under_review"),
    ],
)
def test_after_an_action_on_a_ticket_finance_lands_on_that_ticket_with_the_message(
    client, clerk, customer, bank, name, fields, status
):
    ticket = make_ticket(customer, bank)
    staff_login(client, clerk)
    response = action(client, name, [ticket.pk], **(confirm_fields(ticket) if fields is None else fields))
    assert response.status_code == 302
    assert response["Location"] == change_url(ticket)
    ticket.refresh_from_db()
    assert ticket.status == status
    page = client.get(response["Location"]).content.decode()
    assert f"{ticket.number}: " in page  # the action's message, shown on the ticket page
    assert 'data-testid="review-panel"' in page


def test_approving_a_proposal_lands_on_the_ticket_and_several_tickets_land_on_the_queue(
    client, clerk, checker, customer, bank, settings
):
    ticket = make_ticket(customer, bank, amount=Money("5000.00", "USD"))
    propose(ticket, clerk, settings)
    staff_login(client, checker)
    approved = approve(client, ticket)
    assert approved["Location"] == change_url(ticket)
    assert any("credited 5,000.00 USD" in m for m in messages_of(approved))

    first, second = make_ticket(customer, bank, bank_reference="A1"), make_ticket(customer, bank, bank_reference="B2")
    both = action(client, "start_review", [first.pk, second.pk])
    assert both.status_code == 302
    assert both["Location"].startswith(CHANGELIST) and "/change/" not in both["Location"]


# --- One set of status words ---------------------------------------------------------------


def test_the_queue_the_ticket_and_the_approval_page_say_the_same_status(
    client, clerk, checker, customer, bank, settings
):
    ticket = make_ticket(customer, bank, amount=Money("5000.00", "USD"))
    propose(ticket, clerk, settings)
    staff_login(client, checker)
    queue = client.get(CHANGELIST).content.decode()
    page = client.get(change_url(ticket)).content.decode()
    approval = action(client, "approve_credit", [ticket.pk]).content.decode()
    for shown in (queue, page, approval):
        assert status_words(shown) == {"Awaiting second approval"}
    shown = re.sub(r'<input type="hidden"[^>]*>', "", queue + page + approval)  # tokens are random: may hold "2nd"
    assert "2nd" not in shown

    plain = make_ticket(customer, bank, bank_reference="PLAIN")
    assert status_words(action(client, "reject", [plain.pk]).content.decode()) == {"Submitted"}
    assert status_words(client.get(change_url(plain)).content.decode()) == {"Submitted"}


def test_the_queue_keeps_five_columns_with_payer_and_bank_reference_under_account_and_amount(
    client, clerk, customer, bank
):
    make_ticket(customer, bank, bank_reference="FT-COLUMNS-1", payer_name="Alice Example")
    staff_login(client, clerk)
    page = client.get(CHANGELIST).content.decode()
    headers = [f'class="sortable column-{name}' for name in ("number", "customer", "transfer", "due")]
    assert all(header in page for header in headers)
    assert "column-status_and_flags" in page
    assert "FT-COLUMNS-1" in page and "Alice Example" in page and "250.00 USD" in page


# --- Records that are never edited ----------------------------------------------------------


def test_a_retired_receiving_account_opens_read_only_without_save_buttons(client, clerk, bank):
    from tests.tickets.conftest import usd_receiving_account

    usd_receiving_account()  # the new current account retires `bank`
    bank.refresh_from_db()
    assert bank.retired_at is not None
    staff_login(client, clerk)
    for url in (f"/admin/tickets/receivingaccount/{bank.pk}/change/",):
        page = client.get(url).content.decode()
        for button in ('name="_save"', 'name="_continue"', 'name="_addanother"'):
            assert button not in page, button
        assert "Commerzbank AG" in page
        assert client.post(url, {"bank_name": "Edited"}).status_code == 403
    bank.refresh_from_db()
    assert bank.bank_name == "Commerzbank AG"
    # Adding one still works, and so does the retire action.
    assert 'name="_save"' in client.get("/admin/tickets/receivingaccount/add/").content.decode()


def test_an_issued_invoice_opens_without_save_buttons_even_for_a_superuser(client, customer, bank):
    from tickets.models import Invoice
    from tickets.receiving_accounts import issue_invoice

    invoice = issue_invoice(invoice=Invoice(account=customer.account, amount=Money("320.00", "USD")))
    staff_login(client, UserFactory(account=None, is_staff=True, is_superuser=True))
    page = client.get(f"/admin/tickets/invoice/{invoice.pk}/change/").content.decode()
    assert 'name="_save"' not in page and "320.00 USD" in page
    assert "$" not in page.split('id="content"')[1]


# --- History in words -----------------------------------------------------------------------


def test_history_shows_empty_fields_as_a_dash_and_changes_by_no_person_as_system(client, clerk, customer, bank):
    from tickets.deadlines import flag_ticket_deadlines

    ticket = make_ticket(customer, bank)
    flag_ticket_deadlines(now=ticket.due_at + timedelta(hours=1))  # the scheduler: no person
    staff_login(client, clerk)
    action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket))
    history = client.get(f"{CHANGELIST}{ticket.pk}/history/").content.decode()
    assert "Deleted user" not in history and "pk=None" not in history
    assert re.search(r"<strong>Decided by:</strong>\s*—\s*&nbsp;&rarr;&nbsp;&nbsp;fiona", history)
    assert re.search(r"<strong>Deadline flag:</strong>\s*—\s*&nbsp;&rarr;&nbsp;&nbsp;Overdue", history)  # its label
    assert history.count('data-testid="no-person">system</span>') == 1
    chinese = client.get(f"{CHANGELIST}{ticket.pk}/history/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert re.search(r"&nbsp;&rarr;&nbsp;&nbsp;已逾期", chinese) and 'data-testid="no-person">系统</span>' in chinese


# --- The admin home ---------------------------------------------------------------------------


@pytest.fixture
def work(customer, bank, clerk, settings):
    """One of each thing finance has to act on, and one of each that it does not."""
    now = timezone.now()
    settings.FINANCE_TIME_ZONE = a_finance_zone_before_its_midnight(now)  # the ticket due in 5 minutes: today
    overdue = make_ticket(customer, bank, bank_reference="LATE")
    today = make_ticket(customer, bank, bank_reference="TODAY")
    later = make_ticket(customer, bank, bank_reference="LATER")
    waiting = make_ticket(customer, bank, bank_reference="WAIT", amount=Money("5000.00", "USD"))
    TransferTicket.objects.filter(pk=overdue.pk).update(due_at=now - timedelta(hours=2))
    TransferTicket.objects.filter(pk=today.pk).update(due_at=now + timedelta(minutes=5))
    TransferTicket.objects.filter(pk=later.pk).update(due_at=now + timedelta(days=3))
    TransferTicket.objects.filter(pk=waiting.pk).update(due_at=now + timedelta(days=3))
    propose(waiting, clerk, settings)
    flagged = PendingTopUpFactory(account=customer.account, needs_review=True)
    PendingTopUpFactory(account=customer.account)
    Dispute.objects.create(
        topup=flagged, gateway_dispute_id="dp_open", amount=Money("100", "USD"), debit_amount=Money("100", "USD")
    )
    Dispute.objects.create(
        topup=flagged,
        gateway_dispute_id="dp_won",
        amount=Money("100", "USD"),
        debit_amount=Money("100", "USD"),
        status=Dispute.Status.WON,
    )
    for n, (status, age) in enumerate([("failed", 1), ("failed", 24 * 8), ("sent", 1)]):
        sms = OutboundSms.objects.create(dedupe_key=f"t{n}", status=status, to="+8613800138000", text="Low balance")
        OutboundSms.objects.filter(pk=sms.pk).update(created_at=now - timedelta(hours=age))
    return {"overdue": overdue, "today": today, "later": later, "waiting": waiting, "flagged": flagged}


def todo_counts(page: str) -> dict[str, tuple[int, str]]:
    found = re.findall(r'<a href="([^"]+)" data-testid="todo-([a-z-]+)"><span class="count">(\d+)</span>', page)
    return {key: (int(count), url.replace("&amp;", "&")) for url, key, count in found}


def test_the_admin_home_counts_what_needs_doing_and_links_to_each_list(client, clerk, work, finance_group):
    from django.contrib.auth.models import Permission

    # The Finance group as seeded: it sees the SMS log, top-ups and disputes too.
    finance_group.permissions.add(*Permission.objects.filter(codename__in=["view_outboundsms", "view_topup"]))
    for status in ("info_requested", "rejected"):  # waiting on the customer, and decided: not finance's to do
        ticket = make_ticket(work["later"].submitted_by, work["later"].receiving_account, bank_reference=status)
        TransferTicket.objects.filter(pk=ticket.pk).update(status=status)
    staff_login(client, clerk)
    counts = todo_counts(client.get("/admin/").content.decode())
    assert {key: count for key, (count, _) in counts.items()} == {
        "overdue": 1,
        "due-today": 1,
        "waiting-on-finance": 3,  # whenever due: a new ticket counts from the start; a proposal apart (not twice)
        "awaiting-approval": 1,
        "flagged-topups": 1,
        "flagged-refunds": 0,
        "flagged-accounts": 0,
        "open-disputes": 1,
        "failed-sms": 1,
        "unmatched-lines": 0,
        "other-currency-lines": 0,
        "lines-to-confirm": 0,
        "lines-awaiting-approval": 0,
    }
    expect_in_list = {
        "overdue": work["overdue"].number,
        "due-today": work["today"].number,
        "awaiting-approval": work["waiting"].number,
    }
    for key, number in expect_in_list.items():
        listed = client.get(counts[key][1]).content.decode()
        assert number in listed, key
        others = {t.number for t in work.values() if isinstance(t, TransferTicket)} - {number}
        assert not any(other in listed for other in others), key
    listed = {key: list(client.get(counts[key][1]).context["cl"].result_list) for key in counts}
    waiting = {work[key].pk for key in ("overdue", "today", "later")}
    assert {t.pk for t in listed["waiting-on-finance"]} == waiting
    assert [t.pk for t in listed["flagged-topups"]] == [work["flagged"].pk]
    assert [d.gateway_dispute_id for d in listed["open-disputes"]] == ["dp_open"]
    assert [s.dedupe_key for s in listed["failed-sms"]] == ["t0"]


def test_the_admin_home_shows_only_counts_the_user_may_open(client, work):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(account=None, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_transferticket"))
    staff_login(client, viewer)
    counts = todo_counts(client.get("/admin/").content.decode())
    assert set(counts) == {"overdue", "due-today", "waiting-on-finance", "awaiting-approval"}
    nobody = UserFactory(account=None, is_staff=True)
    staff_login(client, nobody)
    assert 'data-testid="todo"' not in client.get("/admin/").content.decode()
