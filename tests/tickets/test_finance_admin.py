"""Finance in Django admin: the queue, the ticket page, the actions with their confirmation
pages, maker-checker, receiving accounts and invoices — and who cannot do any of it."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from djmoney.money import Money

from accounts.models import LedgerEntry
from tests.factories import UserFactory
from tests.helpers import hidden_fields, staff_login
from tests.tickets.conftest import make_ticket, pdf_bytes, png_bytes, upload
from tickets.models import Invoice, ReceivingAccount, TransferTicket
from tickets.review import confirm_and_credit

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/tickets/transferticket/"


def action(client, name, ticket_ids, **fields):
    data = {"action": name, "_selected_action": [str(pk) for pk in ticket_ids], **fields}
    return client.post(f"{CHANGELIST}?due=all", data)  # as the ticket page's buttons do


def approve(client, ticket, page=None):
    """The checker's "Yes" on the approval page (opened now unless given): what it showed of the proposal goes back."""
    page = page or action(client, "approve_credit", [ticket.pk])
    return action(client, "approve_credit", [ticket.pk], **{**hidden_fields(page), "post": "yes"})


def confirm_fields(ticket, amount="250.00", currency="USD", reference="STMT-1") -> dict:
    prefix = f"t{ticket.pk}"
    return {
        "post": "yes",
        f"{prefix}-received_amount": amount,
        f"{prefix}-received_currency": currency,
        f"{prefix}-bank_reference": reference,
    }


def test_the_queue_is_ordered_by_due_time_with_badges_filters_and_search(client, clerk, customer, bank):
    with time_machine.travel(datetime(2026, 11, 2, 2, 0, tzinfo=UTC), tick=False):
        late = make_ticket(customer, bank, bank_reference="LATE1")
    fresh = make_ticket(customer, bank, bank_reference="FRESH1", amount=Money("99", "CNY"))
    staff_login(client, clerk)
    page = client.get(CHANGELIST).content.decode()
    assert page.index(late.number) < page.index(fresh.number)
    assert "Overdue" in page
    overdue = client.get(CHANGELIST, {"due": "overdue"}).content.decode()
    assert late.number in overdue and fresh.number not in overdue
    cny = client.get(CHANGELIST, {"currency": "CNY"}).content.decode()
    assert fresh.number in cny and late.number not in cny
    for term in ("FRESH1", fresh.number, "Alice Example"):
        assert fresh.number in client.get(CHANGELIST, {"q": term}).content.decode()
    assert client.get(CHANGELIST, {"possible_duplicate__exact": "1"}).status_code == 200
    assert client.get(CHANGELIST, {"status__exact": "submitted"}).status_code == 200


def test_the_ticket_page_shows_certificates_ledger_duplicates_and_a_retired_account(client, clerk, customer, bank):
    first = make_ticket(customer, bank, bank_reference="SAME", files=[upload("photo.png", png_bytes())])
    second = make_ticket(customer, bank, bank_reference="SAME")
    bank.retired_at = timezone.now()
    bank.save()
    staff_login(client, clerk)
    page = client.get(f"{CHANGELIST}{second.pk}/change/").content.decode()
    assert "Possible duplicate" in page and first.number in page
    queue = client.get(CHANGELIST).content.decode()
    assert queue.count("⚠ Possible duplicate") == 2
    assert "Paid to a retired receiving account" in page
    assert "certificate.pdf" in page and "Confirm and credit" in page and "Reject" in page
    image_page = client.get(f"{CHANGELIST}{first.pk}/change/").content.decode()
    assert "<img" in image_page and f"/billing/tickets/{first.number}/certificates/" in image_page


def test_confirm_and_credit_asks_for_confirmation_then_credits_once(client, clerk, customer, bank):
    ticket = make_ticket(customer, bank)
    staff_login(client, clerk)
    confirmation = action(client, "confirm_and_credit", [ticket.pk])
    assert confirmation.status_code == 200
    assert b"are you sure?" in confirmation.content and b"declared <strong>250.00 USD</strong>" in confirmation.content
    # The received amount is typed from the statement, never pre-filled with the customer's claim.
    assert b'name="t%d-received_amount"' % ticket.pk in confirmation.content
    assert b'name="t%d-received_amount" value' % ticket.pk not in confirmation.content
    # What confirming does above the threshold is said before, not learnt after (found by a helper).
    assert b"A credit above 10,000.00 USD (or a ticket declaring more) is only proposed" in confirmation.content
    assert not LedgerEntry.objects.exists()

    done = action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket))
    assert done.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == "credited" and ticket.confirmed_bank_reference == "STMT-1"
    # The same POST again (a double click on "Yes, I'm sure"): reported, nothing posted.
    again = action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket))
    assert again.status_code == 302
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 1
    messages = [str(m) for m in again.wsgi_request._messages]
    assert any("already credited" in m for m in messages)
    history = client.get(f"{CHANGELIST}{ticket.pk}/history/").content.decode()
    assert "fiona" in history and "STMT-1" in history
    assert ticket.history.filter(history_user=clerk, status="credited").count() == 1


def test_money_in_another_currency_shows_what_it_credits_before_anything_is_credited(client, clerk, customer, bank):
    """A clerk typing 700.00 CNY for a USD account had it converted and credited in one click, the USD
    amount seen only afterwards. Now the page shows the credit at today's rate and asks for a tick."""
    import re

    from djmoney.contrib.exchange.models import ExchangeBackend, Rate

    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    rate = Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    ticket = make_ticket(customer, bank, amount=Money("700", "CNY"))
    staff_login(client, clerk)
    fields = confirm_fields(ticket, amount="700.00", currency="CNY", reference="S-CNY")

    shown = action(client, "confirm_and_credit", [ticket.pk], **fields)
    page = shown.content.decode()
    assert shown.status_code == 400 and "This credits 98.59 USD at 1 USD = 7.1000 CNY" in page
    assert not LedgerEntry.objects.exists()
    previewed = re.search(rf'name="t{ticket.pk}-previewed" value="([^"]+)"', page).group(1)
    ticked = {**fields, f"t{ticket.pk}-previewed": previewed, f"t{ticket.pk}-conversion_checked": "on"}

    rate.value = Decimal("7.0")  # the sheet changed before the clerk came back: the tick was for 98.59
    rate.save()
    again = action(client, "confirm_and_credit", [ticket.pk], **ticked)
    assert again.status_code == 400 and "This credits 100.00 USD at 1 USD = 7.0000 CNY" in again.content.decode()
    assert not LedgerEntry.objects.exists()

    previewed = re.search(rf'name="t{ticket.pk}-previewed" value="([^"]+)"', again.content.decode()).group(1)
    done = action(client, "confirm_and_credit", [ticket.pk], **{**ticked, f"t{ticket.pk}-previewed": previewed})
    assert done.status_code == 302
    ticket.refresh_from_db()
    assert ticket.credit_amount == Money("100.00", "USD") and ticket.status == "credited"
    customer.account.refresh_from_db()
    assert customer.account.balance == Money("100.00", "USD")


def test_the_declared_amount_typed_in_another_currency_asks_for_a_check(client, clerk, customer, bank):
    """700.00 CNY declared, the page's currency left at the account's USD, 700.00 typed: it had credited 700 USD
    with no question (found by a helper). Another currency than the declared one asks, like another amount."""
    ticket = make_ticket(customer, bank, amount=Money("700", "CNY"))
    staff_login(client, clerk)
    shown = action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket, amount="700.00"))
    assert shown.status_code == 400 and "This is not the 700.00 CNY the customer declared." in shown.content.decode()
    assert not LedgerEntry.objects.exists()
    ticked = {**confirm_fields(ticket, amount="700.00"), f"t{ticket.pk}-amount_checked": "on"}
    assert action(client, "confirm_and_credit", [ticket.pk], **ticked).status_code == 302
    assert LedgerEntry.objects.get().amount == Money("700.00", "USD")  # the clerk checked: USD arrived


def test_an_amount_too_small_to_convert_is_refused_before_any_tick(client, clerk, customer, bank):
    from djmoney.contrib.exchange.models import ExchangeBackend, Rate

    Rate.objects.create(
        backend=ExchangeBackend.objects.create(name="finance", base_currency="USD"), currency="CNY", value=7
    )
    ticket = make_ticket(customer, bank, amount=Money("0.01", "CNY"))
    staff_login(client, clerk)
    shown = action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket, amount="0.01", currency="CNY"))
    page = shown.content.decode()
    assert shown.status_code == 400 and "too small to credit anything" in page and "This credits 0.00 USD" not in page


def test_money_in_a_currency_without_a_rate_is_a_form_error(client, clerk, customer, bank):
    ticket = make_ticket(customer, bank, amount=Money("700", "CNY"))
    staff_login(client, clerk)
    shown = action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket, amount="700.00", currency="CNY"))
    assert (
        shown.status_code == 400 and "There is no current rate from CNY to USD to convert at" in shown.content.decode()
    )
    assert not LedgerEntry.objects.exists()


def test_a_bad_amount_on_the_confirmation_page_is_a_form_error_not_a_credit(client, clerk, customer, bank):
    ticket = make_ticket(customer, bank)
    staff_login(client, clerk)
    for amount in ("-1", "abc", "1e9", "10.001", ""):
        response = action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket, amount=amount))
        assert response.status_code == 400 and b"errorlist" in response.content, amount
    assert not LedgerEntry.objects.exists()


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def test_an_amount_other_than_the_declared_one_is_checked_before_it_is_credited(client, clerk, customer, bank):
    """A digit too many (2,500.00 for the 250.00 declared) is asked about, not credited; ticked, it goes on."""
    ticket = make_ticket(customer, bank)  # declared 250.00 USD
    staff_login(client, clerk)
    asked = action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket, amount="2500.00"))
    assert asked.status_code == 400 and not LedgerEntry.objects.exists()
    page = asked.content.decode()
    assert "This is not the 250.00 USD the customer declared." in page
    assert f'name="t{ticket.pk}-amount_checked"' in page
    fields = {**confirm_fields(ticket, amount="2500.00"), f"t{ticket.pk}-amount_checked": "on"}
    done = action(client, "confirm_and_credit", [ticket.pk], **fields)
    assert any("credited 2,500.00 USD" in m for m in messages_of(done))
    assert LedgerEntry.objects.get().amount == Money("2500.00", "USD")

    other = upload("other.pdf", pdf_bytes("Another certificate"))  # not a possible duplicate of the first
    same = make_ticket(customer, bank, bank_reference="SAME", files=[other])  # the declared amount: nothing to ask
    form = action(client, "confirm_and_credit", [same.pk]).content.decode()
    assert "amount_checked" not in form
    action(client, "confirm_and_credit", [same.pk], **confirm_fields(same, amount="250.00", reference="STMT-2"))
    assert TransferTicket.objects.get(pk=same.pk).status == "credited"


def test_a_mistyped_proposal_is_withdrawn_by_its_maker_or_sent_back_by_the_checker(
    client, clerk, checker, customer, bank, settings
):
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("1000")}
    ticket = make_ticket(customer, bank, amount=Money("5000.00", "USD"))
    mistyped = {**confirm_fields(ticket, amount="50000.00"), f"t{ticket.pk}-amount_checked": "on"}
    for withdrawer in (clerk, checker):  # the maker takes it back; the checker sends it back
        staff_login(client, clerk)
        action(client, "confirm_and_credit", [ticket.pk], **mistyped)
        staff_login(client, withdrawer)
        page = client.get(f"{CHANGELIST}{ticket.pk}/change/").content.decode()
        assert 'data-testid="action-withdraw_proposal"' in page
        confirmation = action(client, "withdraw_proposal", [ticket.pk]).content.decode()
        assert "proposed crediting <strong>50,000.00 USD</strong>" in confirmation
        withdrawn = action(client, "withdraw_proposal", [ticket.pk], post="yes")
        assert withdrawn["Location"] == f"{CHANGELIST}{ticket.pk}/change/"
        said = f"{ticket.number}: proposal withdrawn; confirm it again with the right figures"
        assert messages_of(withdrawn)[-1] == said
        ticket.refresh_from_db()
        assert (ticket.status, ticket.proposed_by, ticket.confirmed_bank_reference) == ("under_review", None, "")
        event = ticket.events.filter(kind="proposal_withdrawn").latest("pk")
        assert (event.actor, event.public, "50,000.00 USD" in event.body) == (withdrawer, False, True)
    again = action(client, "withdraw_proposal", [ticket.pk], post="yes")
    assert messages_of(again)[-1] == f"{ticket.number}: {ticket.number} has no proposed credit to withdraw."

    staff_login(client, clerk)  # the right figures, with the same statement reference, freed by the withdrawal
    action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket, amount="5000.00"))
    staff_login(client, checker)
    approve(client, ticket)
    assert LedgerEntry.objects.get().amount == Money("5000.00", "USD")


def test_the_checker_says_why_a_proposal_goes_back_and_the_maker_reads_it(
    client, clerk, checker, customer, bank, settings
):
    """The send-back page had no field: the thread only repeated the figures, and the maker had to guess."""
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("1000")}
    ticket = make_ticket(customer, bank, amount=Money("5000.00", "USD"))
    staff_login(client, clerk)
    action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket, amount="5000.00"))
    staff_login(client, checker)
    confirmation = action(client, "withdraw_proposal", [ticket.pk]).content.decode()
    assert "Why (for the maker; kept in the internal thread)" in confirmation
    action(client, "withdraw_proposal", [ticket.pk], post="yes", why="The statement shows STMT-2, not STMT-1.")
    staff_login(client, clerk)
    page = client.get(f"{CHANGELIST}{ticket.pk}/change/").content.decode()
    assert "Received 5,000.00 USD, credit 5,000.00 USD. Why: The statement shows STMT-2, not STMT-1." in page
    chinese = client.get(f"{CHANGELIST}{ticket.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "原因：The statement shows STMT-2, not STMT-1." in chinese  # the clerk's words stay as written
    client.force_login(customer)
    assert "STMT-2" not in client.get(f"/billing/tickets/{ticket.number}/").content.decode()  # internal


def test_maker_checker_through_admin(client, clerk, checker, customer, bank, settings):
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("1000")}
    ticket = make_ticket(customer, bank, amount=Money("5000.00", "USD"))
    staff_login(client, clerk)
    action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket, amount="5000.00"))
    assert not LedgerEntry.objects.exists()
    refused = action(client, "approve_credit", [ticket.pk], post="yes")
    assert any("second, different" in str(m) for m in refused.wsgi_request._messages)
    asked = action(client, "approve_credit", [ticket.pk])  # the maker is told before any "are you sure?"
    assert asked.status_code == 302 and "second, different" in messages_of(asked)[-1]
    assert not LedgerEntry.objects.exists()
    page = client.get(f"{CHANGELIST}{ticket.pk}/change/").content.decode()
    assert "Awaiting second approval" in page and 'data-testid="action-approve_credit"' not in page
    waiting = client.get(CHANGELIST, {"approval": "waiting"}).content.decode()
    assert ticket.number in waiting and "Awaiting second approval" in waiting

    staff_login(client, checker)
    assert b"Approve proposed credit" in client.get(f"{CHANGELIST}{ticket.pk}/change/").content
    approve(client, ticket)
    ticket.refresh_from_db()
    assert ticket.status == "credited" and ticket.proposed_by == clerk and ticket.decided_by == checker
    assert LedgerEntry.objects.get().amount == Money("5000.00", "USD")


def test_reject_and_request_information_need_a_message(client, clerk, customer, bank):
    ticket = make_ticket(customer, bank)
    staff_login(client, clerk)
    assert b"errorlist" in action(client, "reject", [ticket.pk], post="yes", reason="").content
    action(client, "request_information", [ticket.pk], post="yes", reason="Send the full statement.")
    assert TransferTicket.objects.get(pk=ticket.pk).status == "info_requested"
    action(client, "reject", [ticket.pk], post="yes", reason="Not received.")
    ticket.refresh_from_db()
    assert ticket.status == "rejected" and ticket.decision_note == "Not received."


def test_customers_and_plain_staff_cannot_reach_finance_actions_even_by_a_forged_post(client, customer, bank):
    ticket = make_ticket(customer, bank)
    client.force_login(customer)
    response = action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]

    viewer = UserFactory(account=None, is_staff=True)  # staff who may only look at tickets
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_transferticket"))
    staff_login(client, viewer)
    assert client.get(CHANGELIST).status_code == 200
    for name, fields in (
        ("confirm_and_credit", confirm_fields(ticket)),
        ("approve_credit", {"post": "yes"}),
        ("reject", {"post": "yes", "reason": "x"}),
        ("request_information", {"post": "yes", "reason": "x"}),
    ):
        action(client, name, [ticket.pk], **fields)
    page = client.get(f"{CHANGELIST}{ticket.pk}/change/").content.decode()
    assert "Confirm and credit" not in page
    ticket.refresh_from_db()
    assert ticket.status == "submitted" and not LedgerEntry.objects.exists()

    nobody = UserFactory(account=None, is_staff=True)
    staff_login(client, nobody)
    assert client.get(CHANGELIST).status_code == 403


def test_finance_needs_its_one_time_code_for_admin_and_certificates(client, clerk, customer, bank):
    """A password alone (no verified authenticator code) is not enough for finance powers."""
    ticket = make_ticket(customer, bank)
    client.force_login(clerk)  # password session, not verified
    response = action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    certificate = ticket.certificates.get()
    assert client.get(f"/billing/tickets/{ticket.number}/certificates/{certificate.pk}/").status_code == 404
    assert not LedgerEntry.objects.exists()
    login = client.get("/admin/login/").content.decode()
    assert 'name="otp_token"' in login


def test_adding_a_receiving_account_retires_the_previous_one_and_validates_iban_and_bic(client, clerk, bank):
    staff_login(client, clerk)
    form = {
        "bank_name": "New Bank",
        "bank_address": "",
        "account_name": "Billing Center Cloud Ltd",
        "iban": "GB82 WEST 1234 5698 7654 33",  # one digit off
        "account_number": "",
        "swift_bic": "NOTABIC!",
        "currency": "USD",
        "region": "International",
    }
    bad = client.post("/admin/tickets/receivingaccount/add/", form)
    assert bad.status_code == 400 and b"not a valid IBAN" in bad.content and b"not a valid SWIFT/BIC" in bad.content
    form.update(iban="GB82 WEST 1234 5698 7654 32", swift_bic="WESTGB2L")
    assert client.post("/admin/tickets/receivingaccount/add/", form).status_code == 302
    new = ReceivingAccount.objects.get(bank_name="New Bank")
    bank.refresh_from_db()
    assert new.iban == "GB82WEST12345698765432" and new.is_current and bank.retired_at is not None
    # Once added it is not edited, and once used it is not deleted.
    change_page = client.get(f"/admin/tickets/receivingaccount/{new.pk}/change/").content.decode()
    assert 'name="iban"' not in change_page


def test_an_invoice_issued_in_admin_prints_the_current_account_and_keeps_it(client, clerk, customer, bank):
    staff_login(client, clerk)
    from django.contrib.auth.models import Permission

    clerk.user_permissions.add(Permission.objects.get(codename="view_account"))
    response = client.post(
        "/admin/tickets/invoice/add/",
        {
            "account": str(customer.account_id),
            "amount_0": "320.00",
            "amount_1": "USD",
            "issue_date": "2026-11-01",
            "due_date": "",
            "description": "October",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    invoice = Invoice.objects.get()
    assert invoice.number == f"INV-2026-{invoice.pk:06d}" and invoice.receiving_account == bank
    no_account = client.post(
        "/admin/tickets/invoice/add/",
        {"account": str(customer.account_id), "amount_0": "1", "amount_1": "EUR", "issue_date": "2026-11-01"},
    )
    assert no_account.status_code == 400 and b"no current receiving account in EUR" in no_account.content
    assert Invoice.objects.count() == 1
    # Refused with a word a clerk can act on (found by a helper): a sixteen-digit amount had been saved and broken
    # the customer's invoice pages on SQLite; a nought had read "Constraint “invoice_amount_positive” is violated".
    base = {"account": str(customer.account_id), "amount_1": "USD", "issue_date": "2026-11-01"}
    for amount in ("9999999999999999", "0", "-5"):
        refused = client.post("/admin/tickets/invoice/add/", {**base, "amount_0": amount}).content.decode()
        assert "An invoice is for more than zero and at most 1,000,000,000." in refused, amount
    early = client.post("/admin/tickets/invoice/add/", {**base, "amount_0": "5", "due_date": "2026-10-01"})
    assert "The due date cannot be before the issue date." in early.content.decode()
    assert Invoice.objects.count() == 1


def test_the_admin_queue_uses_a_constant_number_of_queries(
    client, clerk, customer, bank, django_assert_max_num_queries
):
    for i in range(3):
        make_ticket(customer, bank, bank_reference=f"Q{i}")
    staff_login(client, clerk)
    with django_assert_max_num_queries(12) as few:
        client.get(CHANGELIST)
    for i in range(20):
        make_ticket(customer, bank, bank_reference=f"R{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(CHANGELIST)


def test_overdue_tickets_tell_the_customer_it_is_taking_longer(client, customer, bank):
    from tickets.deadlines import flag_ticket_deadlines

    ticket = make_ticket(customer, bank)
    flag_ticket_deadlines(now=ticket.due_at + timedelta(hours=1))
    client.force_login(customer)
    assert "Taking longer than expected" in client.get(f"/billing/tickets/{ticket.number}/").content.decode()
    assert "Taking longer than expected" in client.get("/billing/tickets/").content.decode()


def test_a_mangled_action_selection_is_a_message_not_a_500(client, clerk, customer, bank):
    make_ticket(customer, bank)
    staff_login(client, clerk)
    for selection in (["abc"], ["99999999999999999999999"], ["1", "x"]):
        response = client.post(f"{CHANGELIST}?due=all", {"action": "reject", "_selected_action": selection})
        assert response.status_code == 302
    assert client.get(CHANGELIST, {"currency": "ZZZ"}).status_code == 200
    assert client.get(CHANGELIST, {"status__exact": "\x00"}).status_code == 400


def test_crediting_a_possible_duplicate_needs_an_explicit_check(client, clerk, customer, bank):
    first = make_ticket(customer, bank, bank_reference="SAME")
    second = make_ticket(UserFactory(), bank, bank_reference="SAME")
    second.refresh_from_db()
    staff_login(client, clerk)
    refused = action(client, "confirm_and_credit", [second.pk], **confirm_fields(second))
    assert refused.status_code == 400 and b"I checked the possible duplicate" in refused.content
    assert not LedgerEntry.objects.exists()
    fields = {**confirm_fields(second), f"t{second.pk}-duplicate_checked": "on"}
    assert action(client, "confirm_and_credit", [second.pk], **fields).status_code == 302
    # The same statement line cannot then pay the first claim too.
    fields = {**confirm_fields(first), f"t{first.pk}-duplicate_checked": "on"}
    again = action(client, "confirm_and_credit", [first.pk], **fields)
    assert any("already used for" in str(m) for m in again.wsgi_request._messages)
    assert LedgerEntry.objects.count() == 1


def test_admin_sign_in_needs_password_and_the_current_code(client, clerk):
    import time

    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tests.helpers import current_otp

    device = TOTPDevice.objects.create(user=clerk, name="phone", confirmed=True)
    form = {"username": "fiona", "password": "secret-pass-123", "next": "/admin/"}
    good = current_otp(device)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    refused = client.post("/admin/login/", {**form, "otp_token": wrong})
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    assert client.post("/admin/login/", form).status_code == 200  # no code at all
    time.sleep(1.1)  # django-otp throttles a device for a second after a wrong code
    signed_in = client.post("/admin/login/", {**form, "otp_token": good})
    assert signed_in.status_code == 302 and client.get(CHANGELIST).status_code == 200


def test_a_tickets_full_record_shows_its_rate_as_rates_are_shown(client, clerk, customer, bank):
    """The stored twelve places had read 'Exchange rate: 7.100000000000'."""
    from djmoney.contrib.exchange.models import ExchangeBackend, Rate

    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    ticket = make_ticket(customer, bank, amount=Money("700", "CNY"))
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("700.00", "CNY"), bank_reference="S-CNY")
    staff_login(client, clerk)
    page = client.get(f"{CHANGELIST}{ticket.pk}/change/").content.decode()
    assert "7.1000" in page and "7.100000000000" not in page and "request_key" not in page


def test_finance_reads_admin_in_finances_time_zone_unless_a_clerk_chose_another(
    client, clerk, customer, bank, settings
):
    """Admin's times had been the server's UTC, unlabelled, beside notes stamped in finance's zone: one
    statement line read 'Credited … 2026-12-05 03:27 +08:00' and 'Credited at: Dec. 4, 2026, 7:27 p.m.'."""
    settings.FINANCE_TIME_ZONE = "Asia/Shanghai"
    with time_machine.travel(datetime(2026, 12, 4, 19, 27, tzinfo=UTC), tick=False):
        ticket = make_ticket(customer, bank)
    staff_login(client, clerk)
    page = client.get(f"{CHANGELIST}{ticket.pk}/change/").content.decode()
    shanghai = ticket.due_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{shanghai:%Y-%m-%d %H:%M} UTC+08:00" in page
    assert "Dates and times are shown in Asia/Shanghai (UTC+08:00)." in page
    clerk.time_zone = "Europe/London"
    clerk.save(update_fields=["time_zone"])
    page = client.get(f"{CHANGELIST}{ticket.pk}/change/").content.decode()
    assert f"{ticket.due_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in page  # London in winter
    assert "Dates and times are shown in Europe/London (UTC)." in page


def test_a_tickets_full_record_names_no_currency_column_beside_its_amounts(client, clerk, customer, bank):
    """'Amount currency: USD' beside 'Amount: 250.00 USD' read in English on the Chinese page (djmoney's
    companion columns have no words of their own); the amounts carry their currency."""
    ticket = make_ticket(customer, bank)
    staff_login(client, clerk)
    page = client.get(f"{CHANGELIST}{ticket.pk}/change/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "currency" not in page.lower().replace("currency-", "") and "250.00" in page


def test_a_receiving_account_with_neither_iban_nor_number_says_so_once_in_words(client, clerk, bank):
    """It had said so, then also 'Constraint “receiving_account_has_number_or_iban” is violated.'"""
    staff_login(client, clerk)
    form = {"bank_name": "New Bank", "bank_address": "", "account_name": "Billing Center Cloud Ltd", "iban": "",
            "account_number": "", "swift_bic": "WESTGB2L", "currency": "USD", "region": "International"}  # fmt: skip
    refused = client.post("/admin/tickets/receivingaccount/add/", form)
    page = refused.content.decode()
    assert refused.status_code == 400 and page.count("Give an IBAN or an account number.") == 1
    assert "Constraint" not in page and ReceivingAccount.objects.count() == 1


def test_the_checker_approves_the_proposal_their_page_showed_not_one_made_since(
    client, clerk, checker, customer, bank, settings
):
    """The maker withdrew 250.00 and proposed 2,500.00 while the checker read the page: "Yes" had credited the
    2,500.00 nobody approved (found by a helper)."""
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("100")}
    ticket = make_ticket(customer, bank)  # 250.00 declared
    staff_login(client, clerk)
    action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket, amount="250.00"))
    checker_browser = client.__class__()
    staff_login(checker_browser, checker)
    page = action(checker_browser, "approve_credit", [ticket.pk])
    assert "250.00 USD" in page.content.decode()

    action(client, "withdraw_proposal", [ticket.pk], post="yes")
    action(client, "confirm_and_credit", [ticket.pk], **confirm_fields(ticket, amount="2500.00"),
           **{f"t{ticket.pk}-amount_checked": "on"})  # fmt: skip
    ticket.refresh_from_db()
    assert ticket.awaiting_approval and ticket.received_amount == Money("2500.00", "USD")

    stale = approve(checker_browser, ticket, page)
    assert "changed since your page showed it" in messages_of(stale)[-1]
    assert not LedgerEntry.objects.exists()
    approve(checker_browser, ticket)  # opened again, it shows 2,500.00: approved knowingly
    assert LedgerEntry.objects.get().amount == Money("2500.00", "USD")
