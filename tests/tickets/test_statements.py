"""Bank statements in, transfers matched: safe parsing, idempotent lines, matching explained
on the line, and crediting once whether the statement or the ticket comes first."""

from datetime import date
from decimal import Decimal

import pytest
from djmoney.money import Money

from accounts.models import LedgerEntry, OutboundEmail
from money.errors import Invalid
from tests.draining import drain
from tests.factories import UserFactory
from tests.helpers import staff_login
from tests.tickets.conftest import make_ticket
from tests.tickets.statement_files import Entry, camt053, csv_statement, mt940
from tickets.exceptions import TicketStateError
from tickets.models import Invoice, StatementFile, StatementLine, TicketEvent, TransferTicket
from tickets.receiving_accounts import issue_invoice
from tickets.references import formatted, payment_reference
from tickets.review import confirm_and_credit
from tickets.statements.crediting import assign_line, confirm_line
from tickets.statements.importing import import_statement

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def auto_credit(settings):
    settings.STATEMENT_AUTO_CREDIT = True
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("5000"), "CNY": Decimal("30000")}


def run_import(bank, clerk, data, name="statement.xml"):
    return import_statement(receiving_account_id=bank.pk, data=data, name=name, actor=clerk)


def spaced_lower(reference: str) -> str:
    return formatted(reference).lower()


def balance_of(user):
    user.account.refresh_from_db()
    return user.account.balance


def test_a_line_with_the_customers_rf_reference_is_credited_once_and_explained(customer, bank, clerk):
    rf = payment_reference(customer.account_id)
    data = camt053([Entry("120.00", "BANKREF-1", remittance=f"top up {spaced_lower(rf)} thanks")])
    result = run_import(bank, clerk, data)
    assert (result.lines, result.new_lines, result.credited, result.unmatched) == (1, 1, 1, 0)
    line = StatementLine.objects.get()
    assert line.state == "credited" and line.rule == "rf" and line.account_id == customer.account_id
    assert formatted(rf) in line.explanation
    assert balance_of(customer) == Money("120.00", "USD")
    entry = LedgerEntry.objects.get(kind="bank_transfer")
    assert entry.source_ref == f"bank:{bank.pk}:BANKREF1" and line.ledger_entry == entry
    # The same file again, and an overlapping statement, add nothing and credit nothing.
    again = run_import(bank, clerk, data)
    overlapping = camt053(
        [Entry("120.00", "BANKREF-1", remittance=rf), Entry("30.00", "BANKREF-2", creditor_reference=rf)],
        statement_id="STMT-2",
    )
    later = run_import(bank, clerk, overlapping)
    assert (again.new_lines, later.new_lines, later.credited) == (0, 1, 1)
    assert StatementLine.objects.count() == 2 and StatementFile.objects.count() == 3
    assert balance_of(customer) == Money("150.00", "USD")


def test_a_transfer_quoting_an_enterprise_members_reference_waits_for_finance(customer, bank, clerk):
    """A member's funds come from its master and it takes no top-up: finance decides (confirm it, assign it to
    another account, or set it aside to return it). It had been credited without a word (found by a helper)."""
    from tests.factories import EnterpriseMemberAccountFactory

    member = EnterpriseMemberAccountFactory(name="Carol", enterprise_master=customer.account)
    result = run_import(
        bank, clerk, camt053([Entry("75.00", "FT-MEMBER", creditor_reference=payment_reference(member.pk))])
    )

    line = StatementLine.objects.get()
    assert (result.credited, line.state, line.account_id) == (0, "matched", member.pk)
    assert f"an enterprise member of {customer.account.name}" in line.explanation
    assert not LedgerEntry.objects.filter(account=member).exists()
    assert confirm_line(line_id=line.pk, actor=clerk).credited  # finance may credit it, knowingly
    assert LedgerEntry.objects.get(account=member).amount == Money("75.00", "USD")


def test_an_importer_s_own_account_and_a_large_credit_wait_for_another_finance_user(
    customer, bank, clerk, checker, finance_group
):
    """Credited on import, a line is credited on the word of the clerk who uploaded the file: only what that clerk
    could credit alone by confirming it. A file naming the clerk's own customer account, or above the second-approval
    threshold, had been credited with no second person, `credited_by` the importer (found by a helper)."""
    from tests.tickets.conftest import finance_clerk

    insider = finance_clerk(finance_group, "mallory")
    insider.account = UserFactory(username="mallory_customer").account
    insider.save()
    own, large, plain = (
        Entry("90.00", "FT-OWN", creditor_reference=payment_reference(insider.account_id)),
        Entry("9000.00", "FT-LARGE", creditor_reference=payment_reference(customer.account_id)),
        Entry("40.00", "FT-PLAIN", creditor_reference=payment_reference(customer.account_id)),
    )
    result = run_import(bank, insider, camt053([own, large, plain]))

    lines = {line.bank_reference: line for line in StatementLine.objects.all()}
    assert result.credited == 1 and lines["FT-PLAIN"].state == "credited"
    assert (lines["FT-OWN"].state, lines["FT-LARGE"].state) == ("matched", "matched")
    assert "it names the account of mallory, who imported this statement" in lines["FT-OWN"].explanation
    assert "a credit of 9,000.00 USD needs two finance users" in lines["FT-LARGE"].explanation
    assert insider.account.ledger_entries.count() == 0 and balance_of(customer) == Money("40.00", "USD")
    with pytest.raises(Exception, match="your own account"):
        confirm_line(line_id=lines["FT-OWN"].pk, actor=insider)
    assert confirm_line(line_id=lines["FT-OWN"].pk, actor=clerk).credited  # another clerk credits it
    assert not confirm_line(line_id=lines["FT-LARGE"].pk, actor=insider).credited  # proposed, as by hand
    assert confirm_line(line_id=lines["FT-LARGE"].pk, actor=checker).credited
    assert balance_of(customer) == Money("9040.00", "USD")


def test_auto_credit_off_proposes_exact_matches_for_one_click(customer, bank, clerk, settings):
    settings.STATEMENT_AUTO_CREDIT = False
    rf = payment_reference(customer.account_id)
    run_import(bank, clerk, camt053([Entry("80.00", "R-1", creditor_reference=rf)]))
    line = StatementLine.objects.get()
    assert line.state == "matched" and balance_of(customer) == Money("0.00", "USD")
    outcome = confirm_line(line_id=line.pk, actor=clerk)
    assert outcome.credited and balance_of(customer) == Money("80.00", "USD")
    assert confirm_line(line_id=line.pk, actor=clerk).already
    assert LedgerEntry.objects.count() == 1


def test_manual_confirmation_above_the_threshold_needs_a_second_finance_user(customer, bank, clerk, checker, settings):
    settings.STATEMENT_AUTO_CREDIT = False
    rf = payment_reference(customer.account_id)
    run_import(bank, clerk, camt053([Entry("9000.00", "BIG-1", creditor_reference=rf)]))
    line = StatementLine.objects.get()
    assert not confirm_line(line_id=line.pk, actor=clerk).credited
    with pytest.raises(Exception, match="second finance user"):
        confirm_line(line_id=line.pk, actor=clerk)
    assert confirm_line(line_id=line.pk, actor=checker).credited
    assert balance_of(customer) == Money("9000.00", "USD")


def test_rf_with_bad_check_digits_is_not_used_but_suggested(customer, bank, clerk):
    rf = payment_reference(customer.account_id)
    wrong = rf[:2] + ("00" if rf[2:4] != "00" else "01") + rf[4:]
    run_import(bank, clerk, camt053([Entry("50.00", "R-BAD", remittance=wrong)]))
    line = StatementLine.objects.get()
    assert line.state == "unmatched" and line.account_id is None
    assert "wrong check digits" in line.explanation and f"#{customer.account_id}" in line.suggestions
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    "remittance",
    [
        pytest.param("RF17BC0000000001", id="two-digits-too-many-had-suggested-account-0"),
        pytest.param("RF00BC99999999", id="wrong-check-digits-for-no-account-of-ours"),
    ],
)
def test_an_rf_that_names_no_account_of_ours_suggests_none(customer, bank, clerk, remittance):
    """An over-long RF had been cut to eight digits, quoted that way and read as 'account #0 (from
    a mistyped RF)'; a mistyped one suggested whatever account number it spelled, existing or not."""
    run_import(bank, clerk, camt053([Entry("50.00", "R-LONG", remittance=remittance, payer="Nobody Known")]))
    line = StatementLine.objects.get()
    assert line.state == "unmatched" and line.account_id is None
    assert "#0" not in line.suggestions and "account #" not in line.suggestions
    assert "RF17 BC00 0000 00 " not in line.explanation


def test_another_customers_rf_in_the_free_text_names_two_accounts_and_waits(customer, bank, clerk):
    bob = UserFactory()
    ours, theirs = payment_reference(customer.account_id), payment_reference(bob.account_id)
    run_import(bank, clerk, camt053([Entry("50.00", "R-TWO", creditor_reference=ours, remittance=f"for {theirs}")]))
    line = StatementLine.objects.get()
    assert line.state == "unmatched" and "more than one account" in line.explanation
    assert f"#{customer.account_id}" in line.suggestions and f"#{bob.account_id}" in line.suggestions
    assert not LedgerEntry.objects.exists()
    # Finance assigns it by hand, then confirms it.
    assign_line(line_id=line.pk, account_id=bob.account_id, actor=clerk)
    assert confirm_line(line_id=line.pk, actor=clerk).credited
    assert balance_of(bob) == Money("50.00", "USD") and balance_of(customer) == Money("0.00", "USD")


def test_another_customers_rf_alone_credits_that_customer_not_the_payer(customer, bank, clerk):
    bob = UserFactory()
    run_import(
        bank,
        clerk,
        camt053([Entry("70.00", "R-BOB", payer="Alice Example", remittance=payment_reference(bob.account_id))]),
    )
    assert balance_of(bob) == Money("70.00", "USD") and balance_of(customer) == Money("0.00", "USD")


def test_an_invoice_number_names_its_account(customer, bank, clerk):
    invoice = issue_invoice(invoice=Invoice(account=customer.account, amount=Money("300.00", "USD")))
    run_import(bank, clerk, camt053([Entry("300.00", "R-INV", remittance=f"payment {invoice.number.lower()}")]))
    line = StatementLine.objects.get()
    assert line.rule == "invoice" and line.state == "credited" and balance_of(customer) == Money("300.00", "USD")


def test_debit_lines_and_other_currencies_are_listed_never_credited(customer, bank, clerk):
    rf = payment_reference(customer.account_id)
    data = camt053([Entry("-40.00", "FEE-1", remittance=rf), Entry("99.00", "EUR-1", remittance=rf, currency="EUR")])
    result = run_import(bank, clerk, data)
    states = dict(StatementLine.objects.values_list("bank_reference", "state"))
    assert states == {"FEE-1": "debit", "EUR-1": "other_currency"} and result.credited == 0
    assert not LedgerEntry.objects.exists()


def test_a_statement_that_does_not_add_up_is_refused_and_nothing_is_written(customer, bank, clerk):
    data = camt053([Entry("10.00", "R-1")], opening="100.00", closing="120.00")
    with pytest.raises(Invalid, match="does not add up"):
        run_import(bank, clerk, data)
    assert not StatementFile.objects.exists() and not StatementLine.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>',
            id="xxe",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
            b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]><Document>&lol3;</Document>',
            id="billion-laughs",
        ),
        pytest.param(camt053([Entry("10.00", "R-1")])[:-60], id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe not xml at all", id="garbage"),
    ],
)
def test_unsafe_or_broken_files_are_refused_with_a_message(bank, clerk, data):
    with pytest.raises(Invalid) as refused:
        run_import(bank, clerk, data)
    assert refused.value.message and not StatementFile.objects.exists()


def test_a_file_over_the_size_ceiling_is_refused_before_parsing(bank, clerk, settings):
    settings.STATEMENT_MAX_BYTES = 1000
    with pytest.raises(Invalid, match="larger than"):
        run_import(bank, clerk, camt053([Entry("10.00", f"R-{i}") for i in range(20)]))


def test_an_open_ticket_with_the_same_bank_reference_is_matched_and_closed_by_the_statement(customer, bank, clerk):
    ticket = make_ticket(customer, bank, bank_reference="ft 2611 2000 01", amount=Money("250.00", "USD"))
    rf = payment_reference(customer.account_id)
    run_import(bank, clerk, camt053([Entry("250.00", "FT2611200001", creditor_reference=rf)]))
    ticket.refresh_from_db()
    line = StatementLine.objects.get()
    assert line.ticket == ticket and line.state == "credited"
    assert ticket.status == "credited" and ticket.ledger_entry == line.ledger_entry
    event = ticket.events.get(kind=TicketEvent.Kind.CREDITED)
    assert event.public and "Received on 2026-12-01, matched with our bank statement" in event.body
    assert balance_of(customer) == Money("250.00", "USD") and LedgerEntry.objects.count() == 1


def test_a_ticket_only_match_waits_for_one_click(customer, bank, clerk):
    ticket = make_ticket(customer, bank, bank_reference="X-1", transfer_date=date(2026, 12, 1))
    run_import(bank, clerk, camt053([Entry("250.00", "BANK-77", payer="alice example")]))
    line = StatementLine.objects.get()
    assert line.state == "matched" and line.rule == "ticket" and line.ticket == ticket
    assert "same amount, date and payer" in line.explanation and not LedgerEntry.objects.exists()
    confirm_line(line_id=line.pk, actor=clerk)
    ticket.refresh_from_db()
    assert ticket.status == "credited" and balance_of(customer) == Money("250.00", "USD")


def test_a_ticket_confirmed_after_the_statement_credited_is_linked_not_credited_again(customer, bank, clerk):
    rf = payment_reference(customer.account_id)
    run_import(bank, clerk, camt053([Entry("250.00", "FT-LATE", creditor_reference=rf)]))
    ticket = make_ticket(customer, bank, bank_reference="FT-LATE")
    outcome = confirm_and_credit(
        ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="ft-late"
    )
    ticket.refresh_from_db()
    assert outcome.credited and ticket.status == "credited"
    assert ticket.ledger_entry == StatementLine.objects.get().ledger_entry
    assert StatementLine.objects.get().ticket == ticket
    assert balance_of(customer) == Money("250.00", "USD") and LedgerEntry.objects.count() == 1


def test_a_statement_imported_after_the_ticket_was_credited_links_the_line(customer, bank, clerk):
    ticket = make_ticket(customer, bank, bank_reference="FT-EARLY")
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="FT-EARLY")
    rf = payment_reference(customer.account_id)
    run_import(bank, clerk, camt053([Entry("250.00", "FT-EARLY", creditor_reference=rf)]))
    line = StatementLine.objects.get()
    assert line.state == "credited" and line.ticket_id == ticket.pk and "not credited again" in line.explanation
    assert balance_of(customer) == Money("250.00", "USD") and LedgerEntry.objects.count() == 1
    assert TransferTicket.objects.get().status == "credited"


def test_a_ticket_filed_after_the_statement_credited_its_transfer_is_closed_at_once(client, customer, bank, clerk):
    rf = payment_reference(customer.account_id)
    run_import(bank, clerk, camt053([Entry("250.00", "FT2611200001", creditor_reference=rf)]))
    ticket = make_ticket(customer, bank, bank_reference="ft 2611 2000 01")
    assert ticket.status == "credited" and ticket.ledger_entry == StatementLine.objects.get().ledger_entry
    assert "matched with our bank statement" in ticket.events.get(kind="credited").body
    assert balance_of(customer) == Money("250.00", "USD") and LedgerEntry.objects.count() == 1
    staff_login(client, clerk)  # its page had read "Credited 250.00 USD by None on …"
    page = client.get(f"/admin/tickets/transferticket/{ticket.pk}/change/").content.decode()
    assert "matched with our bank statement." in page and "by None" not in page


def test_a_ticket_filed_with_its_reference_spelled_otherwise_is_closed_at_once_too(customer, bank, clerk):
    """The statement prints "FT-2611-2000-01", the customer types "ft 2611 2000 01": one transfer. The filing had
    compared spaces and case only, so the ticket stayed open for finance."""
    rf = payment_reference(customer.account_id)
    run_import(bank, clerk, camt053([Entry("250.00", "FT-2611-2000-01", creditor_reference=rf)]))
    ticket = make_ticket(customer, bank, bank_reference="ft 2611 2000 01")
    assert ticket.status == "credited" and ticket.ledger_entry == StatementLine.objects.get().ledger_entry
    assert balance_of(customer) == Money("250.00", "USD") and LedgerEntry.objects.count() == 1


def test_a_ticketless_credit_is_in_the_customers_records_overview_and_mail(client, customer, bank, clerk):
    rf = payment_reference(customer.account_id)
    run_import(bank, clerk, camt053([Entry("120.00", "REF-REC", remittance=formatted(rf))]))
    mail = OutboundEmail.objects.get()
    assert mail.to == customer.email and "120.00" in mail.subject
    assert "matched with our bank statement" in mail.body
    client.force_login(customer)
    records = client.get("/billing/topups/").content.decode()
    assert "REF-REC" in records and "matched with our bank statement" in records  # the method column
    overview = client.get("/billing/").content.decode()
    assert "120.00" in overview


def test_each_user_of_a_credited_account_is_mailed_in_their_own_language(customer, bank, clerk):
    li = UserFactory(account=customer.account, email="li@example.com", first_name="丽", language="zh-hans")
    UserFactory(account=customer.account, email="gone@example.com", is_active=False)  # no mail for these two
    UserFactory(account=customer.account, email="", language="zh-hans")
    rf = payment_reference(customer.account_id)
    run_import(bank, clerk, camt053([Entry("1234.50", "REF-TWO", creditor_reference=rf)]))
    assert sorted(OutboundEmail.objects.values_list("to", flat=True)) == ["alice@example.com", "li@example.com"]
    english, chinese = OutboundEmail.objects.get(to="alice@example.com"), OutboundEmail.objects.get(to="li@example.com")
    name = customer.account.name
    assert english.subject == "Your bank transfer of 1,234.50 USD was credited"
    assert english.body.startswith(f"Hello {customer.get_full_name()},\n")
    assert "received on 2026-12-01 and matched with our bank statement by your payment reference" in english.body
    assert f"1,234.50 USD was added to the balance of {name}." in english.body
    assert chinese.subject == "您 US$1,234.50 的银行转账已入账" and chinese.body.startswith(
        f"{li.get_full_name()}，您好"
    )
    assert "您的银行转账已于 2026-12-01 到账" in chinese.body and f"US$1,234.50 已充值到 {name} 的余额" in chinese.body


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_every_credit_mail_of_a_statement(customer, bank, clerk, celery_worker, mailoutbox):
    bob = UserFactory(email="bob@example.com")
    rf, bob_rf = payment_reference(customer.account_id), payment_reference(bob.account_id)
    entries = [Entry(f"{10 + i}.00", f"MAIL-{i}", creditor_reference=rf) for i in range(3)]
    run_import(bank, clerk, camt053([*entries, Entry("99.00", "MAIL-BOB", remittance=bob_rf)]))
    drain()
    assert OutboundEmail.objects.filter(status="sent").count() == 4
    assert sorted(m.to[0] for m in mailoutbox) == sorted([customer.email] * 3 + ["bob@example.com"])
    assert sorted(m.subject for m in mailoutbox if m.to == ["bob@example.com"]) == [
        "Your bank transfer of 99.00 USD was credited"
    ]


def test_an_mt940_statement_is_matched_like_a_camt(customer, bank, clerk):
    rf = payment_reference(customer.account_id)
    data = mt940([Entry("120.00", "MT-1", remittance=spaced_lower(rf)), Entry("-3.50", "FEE-1")])
    result = run_import(bank, clerk, data, name="statement.sta")
    assert result.statement.format == "mt940" and (result.lines, result.credited) == (2, 1)
    assert balance_of(customer) == Money("120.00", "USD")
    assert run_import(bank, clerk, data).new_lines == 0


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(mt940([Entry("10.00", "MT-1")], closing="999.00"), id="balances-do-not-add-up"),
        pytest.param(mt940([Entry("10.00", "MT-1")]).rsplit(b":62F:", 1)[0], id="truncated-no-closing-balance"),
    ],
)
def test_a_broken_mt940_is_refused(bank, clerk, data):
    with pytest.raises(Invalid):
        run_import(bank, clerk, data, name="statement.sta")
    assert not StatementFile.objects.exists()


def test_a_csv_is_read_with_the_receiving_accounts_columns(customer, bank, clerk, csv_columns):
    rf = payment_reference(customer.account_id)
    data = csv_statement([Entry("88.00", "CN-1", payer="张三", remittance=rf), Entry("-2.00", "CN-FEE")])
    result = run_import(bank, clerk, data, name="export.csv")
    assert result.statement.format == "csv" and result.credited == 1
    assert StatementLine.objects.get(bank_reference="CN-1").payer_name == "张三"
    assert balance_of(customer) == Money("88.00", "USD")


def test_a_csv_whose_running_balance_breaks_is_refused(bank, clerk, csv_columns):
    data = csv_statement([Entry("10.00", "CN-1"), Entry("5.00", "CN-2")], break_balance_at=1)
    with pytest.raises(Invalid, match="does not add up at line 3"):
        run_import(bank, clerk, data, name="export.csv")
    assert not StatementLine.objects.exists()


def test_a_csv_without_saved_columns_is_refused_with_what_to_do(bank, clerk):
    with pytest.raises(Invalid, match="CSV columns"):
        run_import(bank, clerk, csv_statement([Entry("10.00", "CN-1")]), name="export.csv")


def test_control_characters_from_the_bank_file_are_dropped_not_stored(customer, bank, clerk, csv_columns):
    data = csv_statement([Entry("10.00", "CN-\x001", payer="Evil\x00 Payer", remittance="a\x07b")])
    run_import(bank, clerk, data, name="export.csv")
    line = StatementLine.objects.get()
    assert (line.bank_reference, line.payer_name, line.remittance) == ("CN-1", "Evil Payer", "ab")


def test_assigning_a_ticket_matched_line_to_another_account_leaves_that_ticket_open(customer, bank, clerk):
    ticket = make_ticket(customer, bank, bank_reference="X-9", transfer_date=date(2026, 12, 1))
    run_import(bank, clerk, camt053([Entry("250.00", "BANK-9", payer="Alice Example")]))
    line = StatementLine.objects.get()
    assert line.ticket == ticket
    bob = UserFactory()
    assign_line(line_id=line.pk, account_id=bob.account_id, actor=clerk)
    confirm_line(line_id=line.pk, actor=clerk)
    ticket.refresh_from_db()
    assert ticket.is_open and balance_of(bob) == Money("250.00", "USD")


def test_a_transfer_a_ticket_credited_under_another_ledger_source_is_linked_not_credited_again(customer, bank, clerk):
    """A clerk confirmed the customer's ticket with the reference typed differently (or before tickets
    shared the bank's source): the statement line for that transfer is linked to the ticket's credit."""
    ticket = make_ticket(customer, bank, bank_reference="FT2611200077")
    confirm_and_credit(
        ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="FT 2611 2000 77 X"
    )
    assert balance_of(customer) == Money("250.00", "USD")
    rf = payment_reference(customer.account_id)
    run_import(bank, clerk, camt053([Entry("250.00", "FT2611200077", creditor_reference=rf)]))
    line = StatementLine.objects.get()
    assert line.state == "credited" and line.ticket_id == ticket.pk
    assert "linked, not credited again" in line.explanation
    assert balance_of(customer) == Money("250.00", "USD")
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 1


def test_a_line_waiting_for_confirmation_is_linked_when_its_ticket_is_credited(customer, bank, clerk, settings):
    """The statement came first and its line waited ("awaiting confirmation", on finance's to-do list);
    then a clerk credited the customer's ticket with the line's reference. The line is linked to that
    credit at once: it had stayed waiting, counted, with 0.00 credited, until someone confirmed it."""
    settings.STATEMENT_AUTO_CREDIT = False
    ticket = make_ticket(customer, bank, bank_reference="HSBC-88120003", transfer_date=date(2026, 12, 1))
    run_import(bank, clerk, camt053([Entry("250.00", "HSBC-88120003", payer="Someone Else")]))
    waiting = StatementLine.objects.get()
    assert waiting.state == "matched" and waiting.ticket == ticket
    confirm_and_credit(
        ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="hsbc-8812 0003"
    )
    ticket.refresh_from_db()
    line = StatementLine.objects.get()
    assert line.state == "credited" and line.ledger_entry == ticket.ledger_entry and line.credited_by == clerk
    assert line.explanation.endswith(f"Already credited through ticket {ticket.number}: linked, not credited again.")
    assert confirm_line(line_id=line.pk, actor=clerk).already
    assert balance_of(customer) == Money("250.00", "USD") and LedgerEntry.objects.count() == 1


def test_a_ticket_confirmed_for_another_amount_than_its_statement_line_shows_is_refused(
    customer, bank, clerk, settings
):
    """The reference names one transfer (the ledger's source is bank:<reference>): a ticket credited 250.00
    under a reference our statement shows as 99.00 would have left the 99.00 line uncreditable for ever."""
    settings.STATEMENT_AUTO_CREDIT = False
    run_import(bank, clerk, camt053([Entry("99.00", "FT-SAME", payer="Someone Else")]))
    ticket = make_ticket(customer, bank, bank_reference="FT-SAME")
    with pytest.raises(TicketStateError, match="Our statement shows 99.00 USD for FT-SAME, not 250.00 USD."):
        confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="FT-SAME")
    assert StatementLine.objects.get().state == "unmatched" and not LedgerEntry.objects.exists()


def test_transfers_without_a_bank_reference_whose_end_to_end_id_says_notprovided_are_each_credited(
    customer, bank, clerk
):
    """A camt.053 whose entries carry no AcctSvcrRef falls back to the payer's EndToEndId, which SEPA fills with
    "NOTPROVIDED" when the payer gave none: read as a reference, two customers' transfers shared one ledger source
    and the second was taken for the first, already credited."""
    bob = UserFactory(first_name="Bob")
    entries = [
        Entry("120.00", "", creditor_reference=payment_reference(customer.account_id)),
        Entry("80.00", "", creditor_reference=payment_reference(bob.account_id), payer="Bob Example"),
    ]
    data = camt053(entries).replace(b"<AcctSvcrRef></AcctSvcrRef>", b"")
    data = data.replace(b"<TxDtls>", b"<TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>")
    result = run_import(bank, clerk, data)
    assert (result.credited, result.linked) == (2, 0)
    assert balance_of(customer) == Money("120.00", "USD") and balance_of(bob) == Money("80.00", "USD")
    assert all(line.bank_reference.startswith("NOREF-") for line in StatementLine.objects.all())


def test_an_importer_who_may_not_credit_credits_nothing_on_import(customer, bank):
    """Importing needs `import_statementfile`; crediting, `credit_transferticket`. An importer with the first alone,
    who could not confirm a single line, had had every exact match of their file credited (found by a helper)."""
    from django.contrib.auth.models import Permission

    from accounts.models import User

    importer = UserFactory(username="ivan", account=None, is_staff=True)
    importer.user_permissions.add(Permission.objects.get(codename="import_statementfile"))
    importer = User.objects.get(pk=importer.pk)  # its permissions read afresh
    rf = payment_reference(customer.account_id)
    assert run_import(bank, importer, camt053([Entry("40.00", "FT-IVAN", creditor_reference=rf)])).credited == 0
    line = StatementLine.objects.get()
    assert line.state == "matched" and "ivan, who imported this statement, may not credit transfers" in line.explanation
    assert balance_of(customer) == Money("0.00", "USD")


def test_a_clerk_whose_account_is_an_enterprise_master_cannot_credit_its_member_alone(
    customer, bank, clerk, finance_group
):
    """The master's own clerk had confirmed a transfer for its member with nobody else, then reclaimed the money into
    the master (found by a helper): money moves between a master and its members without finance, so a member's
    account, or the master of a member's clerk, is the clerk's own."""
    from money.errors import Refused
    from tests.factories import EnterpriseMemberAccountFactory
    from tests.tickets.conftest import finance_clerk

    insider = finance_clerk(finance_group, "mallory")
    insider.account = UserFactory(username="mallory_customer").account
    insider.save()
    member = EnterpriseMemberAccountFactory(name="Carol", enterprise_master=insider.account)
    run_import(bank, insider, camt053([Entry("900.00", "FT-MEMBER", creditor_reference=payment_reference(member.pk))]))
    line = StatementLine.objects.get()
    with pytest.raises(Refused, match="your own account"):
        confirm_line(line_id=line.pk, actor=insider)
    member_clerk = finance_clerk(finance_group, "marvin")
    member_clerk.account = member
    member_clerk.save()
    master_line = Entry("50.00", "FT-MASTER", creditor_reference=payment_reference(insider.account_id))
    run_import(bank, member_clerk, camt053([master_line], statement_id="STMT-2"))
    assert StatementLine.objects.get(bank_reference="FT-MASTER").state == "matched"  # not credited on their word
    assert confirm_line(line_id=line.pk, actor=clerk).credited  # anyone else may


def test_a_statement_credit_mail_reads_in_the_browser_s_language_when_none_was_chosen(customer, bank, clerk):
    lin = UserFactory(username="lin", email="lin@example.com", language="", browser_language="zh-hans")
    run_import(bank, clerk, camt053([Entry("40.00", "FT-ZH", creditor_reference=payment_reference(lin.account_id))]))
    assert OutboundEmail.objects.get(to="lin@example.com").subject == "您 US$40.00 的银行转账已入账"
