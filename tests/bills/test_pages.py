"""What bob sees and does: his bills, the Overview's postpaid panel, and repaying online."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from djmoney.money import Money

from accounts.models import LedgerEntry
from bills.models import Bill, Settlement
from tests.bills.conftest import NOVEMBER, OCTOBER, at, charge, close
from tests.factories import PostpaidAccountFactory, UserFactory
from tests.helpers import staff_login
from tests.intake import apply_stored
from topups.gateways import signing
from topups.gateways.sandbox import notification_body
from topups.models import SandboxCheckout, TopUp

pytestmark = pytest.mark.django_db
SECRET = "whsec_sandbox_local_only"


@pytest.fixture
def billed(client, bob):
    charge(bob.account, "30.00", at(2026, 10, 10), "oct", description="vm small")
    charge(bob.account, "50.00", at(2026, 11, 10), "nov", description="vm large")
    charge(bob.account, "7.00", at(2026, 12, 2), "dec")
    client.force_login(bob)
    return close(bob.account, OCTOBER), close(bob.account, NOVEMBER)


def pay_in_sandbox(client, topup: TopUp):
    """What the sandbox's hosted page does when bob pays: a signed notification to our webhook;
    then the worker applies what was stored."""
    SandboxCheckout.objects.filter(session_id=topup.gateway_session_id).update(status=SandboxCheckout.Status.PAID)
    body = notification_body(SandboxCheckout.objects.get(session_id=topup.gateway_session_id))
    signature = signing.sign(body, SECRET)
    headers = {"HTTP_SANDBOX_SIGNATURE": signature}
    response = client.post("/webhooks/sandbox/", data=body, content_type="application/json", **headers)
    apply_stored()
    return response


def test_the_overview_shows_unbilled_usage_outstanding_bills_and_repay_instead_of_top_up(client, billed, bob):
    type(bob.account).objects.filter(pk=bob.account.pk).update(credit_limit="500.00")
    page = client.get("/billing/").content.decode()
    assert 'data-testid="postpaid-panel"' in page
    assert "7.00" in page  # December's usage, not billed yet
    for bill in billed:
        assert bill.number in page
    assert "Repay</a>" in page and "Top Up</a>" not in page
    assert "413.00" in page  # 500 limit, 87 owed


def test_a_postpaid_balance_below_zero_reads_as_owed_and_a_transfer_quoting_the_bill_needs_no_ticket(client, billed):
    """The card had called what bob owes his "Available balance", and Repay › Bank transfer had told him to open a
    ticket after every transfer, when our statement settles a bill its transfer names (found by a helper)."""
    overview = client.get("/billing/").content.decode()
    assert ">Balance</h2>" in overview and "Below zero: what you owe, billed or not yet billed." in overview
    assert "Available balance" not in overview
    page = client.get("/billing/repay/bank-transfer/").content.decode()
    assert "Quoted the bill number or your payment reference, and paid in <strong>USD</strong>?" in page
    assert "After transferring, open a" not in page


def test_a_prepaid_overview_has_no_postpaid_panel(client):
    client.force_login(UserFactory())
    page = client.get("/billing/").content.decode()
    assert "postpaid-panel" not in page and "Top Up</a>" in page


def test_bob_sees_his_bill_and_its_pdf(client, billed):
    october, _ = billed
    listing = client.get("/billing/bills/").content.decode()
    assert october.number in listing
    page = client.get(f"/billing/bills/{october.number}/").content.decode()
    assert "vm small" in page and "30.00" in page
    pdf = client.get(f"/billing/bills/{october.number}/bill.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_a_bill_pdf_says_which_account_to_transfer_to_and_what_to_quote(client, billed, bob):
    """The PDF had named "the receiving account shown there": the accounts-payable clerk holding it could not pay
    from it (found by a helper). It prints each current receiving account in the bill's currency, never a retired
    one or another currency's, and the remark: the bill number and the account's payment reference."""
    import io

    from pypdf import PdfReader

    from tests.tickets.conftest import usd_receiving_account, yuan_receiving_account
    from tickets.models import ReceivingAccount
    from tickets.references import formatted, payment_reference

    october, _ = billed
    usd = usd_receiving_account()
    cny = yuan_receiving_account()
    retired = ReceivingAccount.objects.create(
        bank_name="Old Bank", account_name="Cloud Old", account_number="999", swift_bic="OLDBUS33XXX", currency="USD",
        retired_at=timezone.now(),
    )  # fmt: skip

    pdf = client.get(f"/billing/bills/{october.number}/bill.pdf")
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages).split())
    assert "Pay by bank transfer to" in text and usd.bank_name in text and usd.swift_bic in text
    assert f"{october.number} {formatted(payment_reference(bob.account_id))}" in text
    assert cny.bank_name not in text and retired.bank_name not in text


@pytest.mark.parametrize("suffix", ["", "bill.pdf"])
def test_another_customers_bill_is_a_404(client, billed, suffix):
    other = UserFactory(account=PostpaidAccountFactory())
    charge(other.account, "9.00", at(2026, 11, 3), "other")
    theirs = close(other.account, NOVEMBER)
    assert client.get(f"/billing/bills/{theirs.number}/{suffix}").status_code == 404
    assert client.get(f"/billing/bills/BL-nope/{suffix}").status_code == 404


def test_bob_repays_the_ticked_bill_online_and_it_is_settled_exactly_once(client, billed):
    october, november = billed
    page = client.get("/billing/repay/")
    assert page.status_code == 200
    key = page.context["request_key"]
    response = client.post("/billing/repay/", {"bills": [str(november.pk)], "request_key": key})
    assert response.status_code == 303
    topup = TopUp.objects.get()
    assert response["Location"] == topup.checkout_url
    assert (topup.purpose, topup.amount) == (TopUp.Purpose.REPAYMENT, Money("50.00", "USD"))
    # A double click finds the same payment.
    assert client.post("/billing/repay/", {"bills": [str(november.pk)], "request_key": key}).status_code == 303
    assert TopUp.objects.count() == 1

    for _ in range(2):  # the gateway delivers twice
        assert pay_in_sandbox(client, topup).status_code == 200

    november.refresh_from_db()
    october.refresh_from_db()
    assert november.status == Bill.Status.PAID
    assert october.status == Bill.Status.OPEN  # the ticked bill first, not the oldest
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REPAYMENT).count() == 1
    assert Settlement.objects.count() == 1
    records = client.get("/billing/topups/").content.decode()
    assert "Online repayment" in records
    statement = client.get("/billing/statement/").content.decode()
    assert "Repayment of bills" in statement and november.number in statement


def test_an_amount_without_ticks_pays_the_oldest_first(client, billed):
    october, november = billed
    client.post("/billing/repay/", {"amount": "40.00", "request_key": "k1"})
    pay_in_sandbox(client, TopUp.objects.get())
    october.refresh_from_db()
    november.refresh_from_db()
    assert october.status == Bill.Status.PAID
    assert november.amount_paid == Money("10.00", "USD")
    # Partly paid reads as calmly as open, not in the amber of a payment gone wrong (found by a helper).
    bills = client.get("/billing/bills/").content.decode()
    assert 'class="badge badge-submitted" data-testid="bill-status">Partly paid' in bills


@pytest.mark.parametrize(
    "data",
    [
        {"amount": "1e3"},
        {"amount": "-5"},
        {"amount": "１００"},
        {"amount": "0"},
        {"amount": "10.001"},
        {"amount": "99999999999999999999"},
        {"bills": ["abc"]},
        {"bills": ["99999999999999999999999"]},
        {"bills": ["-1"]},
        {},
    ],
)
def test_hostile_repay_input_is_a_form_error_and_writes_nothing(client, billed, data):
    response = client.post("/billing/repay/", {**data, "request_key": "k"})
    assert response.status_code == 400
    assert not TopUp.objects.exists()


def test_a_repayment_below_the_minimum_only_pays_a_debt_exactly(client, bob):
    """Card testing with 0.01 had been taken as a repayment (found by a helper); a bill smaller than the
    top-up minimum is still paid, ticked or as the whole amount owed."""
    charge(bob.account, "3.50", at(2026, 10, 10), "small")
    (small,) = [close(bob.account, OCTOBER)]
    client.force_login(bob)
    refused = client.post("/billing/repay/", {"amount": "0.01", "request_key": "k1"})
    assert refused.status_code == 400
    assert "The smallest online payment is 10.00 USD, unless it pays exactly what the bills owe (3.50 USD)" in (
        refused.content.decode()
    )
    assert not TopUp.objects.exists()
    assert client.post("/billing/repay/", {"bills": [str(small.pk)], "request_key": "k2"}).status_code == 303
    assert client.post("/billing/repay/", {"amount": "3.50", "request_key": "k3"}).status_code == 303
    assert client.post("/billing/repay/", {"amount": "10.00", "request_key": "k4"}).status_code == 303  # in advance
    assert [t.amount for t in TopUp.objects.order_by("pk")] == [Money("3.50", "USD")] * 2 + [Money("10.00", "USD")]


def test_repayments_in_advance_stop_at_the_daily_limit_beyond_the_debt(client, billed):
    """Three payments of 50,000 for bills of 80.00 had all opened checkouts (found by a helper): what the bills
    owe, plus the daily top-up limit in advance, counting open checkouts and the credit on account."""
    for key in ("k1", "k2"):
        assert client.post("/billing/repay/", {"amount": "50000.00", "request_key": key}).status_code == 303
    refused = client.post("/billing/repay/", {"amount": "50000.00", "request_key": "k3"})
    assert refused.status_code == 400
    assert "up to 100,000.00 USD in advance" in refused.content.decode()
    assert "at most 80.00 USD more now" in refused.content.decode()
    assert TopUp.objects.count() == 2
    assert client.post("/billing/repay/", {"amount": "80.00", "request_key": "k4"}).status_code == 303

    pay_in_sandbox(client, TopUp.objects.get(request_key="k1"))  # settles both bills; 49,920.00 kept as credit
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):  # the other checkouts expired unpaid
        # 100,000 in advance less the 49,920.00 held leaves 50,080.00
        assert client.post("/billing/repay/", {"amount": "50000.00", "request_key": "k5"}).status_code == 303
        refused = client.post("/billing/repay/", {"amount": "90.00", "request_key": "k6"})
        assert "at most 80.00 USD more now" in refused.content.decode()


def test_another_customers_bill_cannot_be_chosen(client, billed):
    other = UserFactory(account=PostpaidAccountFactory())
    charge(other.account, "9.00", at(2026, 11, 3), "other")
    theirs = close(other.account, NOVEMBER)
    response = client.post("/billing/repay/", {"bills": [str(theirs.pk)], "request_key": "k"})
    assert response.status_code == 400
    assert not TopUp.objects.exists()


def test_a_prepaid_account_cannot_repay(client):
    client.force_login(UserFactory())
    assert client.get("/billing/repay/").status_code == 403
    assert client.post("/billing/repay/", {"amount": "10.00", "request_key": "k"}).status_code == 403
    assert client.get("/billing/repay/bank-transfer/").status_code == 403
    assert not TopUp.objects.exists()


def test_a_credited_online_repayment_cannot_be_refunded(client, billed, clerk):
    from topups.exceptions import RefundRefused
    from topups.refunds import request_refund

    client.post("/billing/repay/", {"amount": "30.00", "request_key": "k-refund"})
    topup = TopUp.objects.get()
    pay_in_sandbox(client, topup)
    with pytest.raises(RefundRefused, match="is a repayment of bills"):
        request_refund(topup_id=topup.pk, amount=Money("10.00", "USD"), reason="", actor=clerk)
    assert not topup.refunds.exists()


def test_the_repay_page_sent_again_with_another_amount_is_refused(client, billed):
    client.post("/billing/repay/", {"amount": "20.00", "request_key": "k-back"})
    changed = client.post("/billing/repay/", {"amount": "200.00", "request_key": "k-back"})
    assert changed.status_code == 409 and "This page was already sent for 20.00 USD" in changed.content.decode()
    assert 'value="k-back"' not in changed.content.decode()
    assert [t.amount for t in TopUp.objects.all()] == [Money("20.00", "USD")]


def test_admin_says_why_a_repayment_is_not_refunded_before_offering_an_amount(client, billed, clerk):
    """The refund form had offered "Can still be refunded: 30.00 USD", then refused with "repaid
    bills", which was untrue of a payment kept as credit. It now says why at once, and truly."""
    client.post("/billing/repay/", {"amount": "300.00", "request_key": "k-over"})  # more than the bill
    topup = TopUp.objects.get()
    pay_in_sandbox(client, topup)
    staff_login(client, clerk)
    response = client.post("/admin/topups/topup/", {"action": "refund", "_selected_action": [topup.pk]}, follow=True)
    page = response.content.decode()
    assert "Can still be refunded" not in page
    assert f"{topup.reference} is a repayment of bills: it is not refunded from here." in page
    assert "stays on the account as credit for the next bills" in page
    assert not topup.refunds.exists()


def test_the_navigation_links_bills_for_postpaid_accounts_only(client, billed):
    assert 'href="/billing/bills/"' in client.get("/billing/").content.decode()
    client.force_login(UserFactory())
    assert 'href="/billing/bills/"' not in client.get("/billing/").content.decode()


def test_a_prepaid_customer_at_the_bills_address_is_told_why_there_are_none(client, billed):
    """The postpaid empty state had promised a prepaid customer a bill after the month ended."""
    assert "No bills yet." not in client.get("/billing/bills/").content.decode()  # bob's bills are listed
    client.force_login(UserFactory())
    page = client.get("/billing/bills/").content.decode()
    assert "Your account has no monthly bills." in page and "billed after the month ends" not in page
    assert 'href="/billing/statement/"' in page and 'href="/billing/topups/"' in page
    zh = client.get("/billing/bills/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Your account" not in zh


@pytest.mark.parametrize("path", ["/billing/repay/?bill={}", "/billing/tickets/new/?bill={}"])
def test_another_customers_bill_in_the_query_string_is_ignored(client, billed, path):
    other = UserFactory(account=PostpaidAccountFactory(name="Mallory's Mill"))
    charge(other.account, "9.00", at(2026, 11, 3), "other")
    theirs = close(other.account, NOVEMBER)
    for value in (theirs.number, "x" * 5000, "１", "%00"):
        response = client.get(path.format(value))
        assert response.status_code in (200, 400)
        assert theirs.number not in response.content.decode() and "Mallory" not in response.content.decode()


def test_the_unbilled_months_name_reads_in_chinese_order(client, billed):
    """It had read '未出账用量（十二月 2026）', the English order word for word."""
    import re

    page = client.get("/billing/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert re.search(r"未出账用量（\d{4}年\d{1,2}月）", page), re.findall(r"未出账用量（[^）]*）", page)
    assert re.search(r"Unbilled usage, [A-Z][a-z]+ \d{4}", client.get("/billing/").content.decode())


def test_in_credit_the_limit_line_says_the_credit_counts_not_that_the_limit_grew(client, bob):
    """'Credit limit 1,000.00 USD · 1,031.40 USD left' had read as more credit than finance granted."""
    from accounts.ledger import post_ledger_entry

    bob.account.credit_limit = Decimal("1000.00")
    bob.account.save(update_fields=["credit_limit"])
    post_ledger_entry(account_id=bob.account_id, amount=Money("31.40", "USD"), kind="repayment", source_ref="r:1")
    client.force_login(bob)
    page = client.get("/billing/").content.decode()
    assert "1,031.40 USD available to spend, with your credit" in page and "1,031.40 USD left" not in page


def test_a_repayment_waiting_for_payment_is_named_one_on_the_overview_and_the_gateways_page(client, billed):
    """The Overview had listed it as "Top-up TU-…" under "Top-up is not supported for postpaid accounts", and the
    gateway's page as "Repayment of bills TU-…", which read as if TU-… were a bill (found by a helper)."""
    response = client.post("/billing/repay/", {"amount": "20.00", "request_key": "k-name"})
    topup = TopUp.objects.get()
    overview = client.get("/billing/").content.decode()
    assert f"Online repayment {topup.reference}" in overview and f"Top-up {topup.reference}" not in overview
    gateway = client.get(response["Location"]).content.decode()
    assert f"Online repayment {topup.reference}, Bob&#x27;s Shop" in gateway


def test_a_repayment_still_open_for_a_bill_paid_since_says_so(client, billed):
    """Two repayments of one bill: once the first is paid, the second's page had still offered "Continue to
    payment" with nothing said, and paying it made the whole amount credit on account (found by a helper)."""
    _october, november = billed
    for key in ("k-a", "k-b"):
        client.post("/billing/repay/", {"bills": [str(november.pk)], "request_key": key})
    first, second = TopUp.objects.order_by("pk")
    assert 'data-testid="paid-since"' not in client.get(f"/billing/topups/{second.public_id}/").content.decode()
    pay_in_sandbox(client, first)
    page = client.get(f"/billing/topups/{second.public_id}/").content.decode()
    assert f"{november.number} has been paid since you chose it: paying now keeps this amount as credit" in page
    chinese = client.get(f"/billing/topups/{second.public_id}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f"{november.number} 在您选择后已付清" in chinese


def test_the_gateways_page_names_a_repayment_as_one_in_the_payers_language(client, billed):
    """The sandbox's page had said 'For: Top-up of account Bob's Shop', in English on a Chinese page."""
    response = client.post(
        "/billing/repay/", {"amount": "20.00", "request_key": "k-label"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    topup = TopUp.objects.get()
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert f"在线还款 {topup.reference}，Bob&#x27;s Shop" in page and "Top-up of account" not in page


def test_a_pending_repayments_page_leads_back_to_repay_not_to_pay(client, billed):
    """Its 'Start a new top-up' had led to Pay, which refuses a postpaid account: a dead end."""
    client.post("/billing/repay/", {"amount": "20.00", "request_key": "k-again"})
    topup = TopUp.objects.get()
    page = client.get(f"/billing/topups/{topup.public_id}/").content.decode()
    assert "Cancel this repayment" in page and "Cancel this top-up" not in page
    client.post(f"/billing/topups/{topup.public_id}/cancel/")
    page = client.get(f"/billing/topups/{topup.public_id}/").content.decode()
    assert 'href="/billing/repay/"' in page and 'href="/billing/pay/">' not in page
    assert "Start a new repayment" in page and "top-up" not in page.split("<main", 1)[1]
    assert "Payment records" in page and "Top-up records" not in page  # the nav and the breadcrumb


def test_a_repayments_receipt_says_repayment_and_names_the_bills_it_settled(client, billed):
    """It had said 'confirms this top-up was received' and named no bill (found by a helper as bob)."""
    october, _ = billed
    client.post("/billing/repay/", {"amount": "30.00", "bills": [str(october.pk)], "request_key": "k-receipt"})
    topup = TopUp.objects.get()
    pay_in_sandbox(client, topup)
    page = client.get(f"/billing/topups/{topup.public_id}/receipt/").content.decode()
    assert "confirms this repayment was received and credited." in page and "this top-up" not in page
    assert f"{october.number} (30.00 USD)" in page
    chinese = client.get(f"/billing/topups/{topup.public_id}/receipt/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "Settles" not in chinese.content.decode() and "confirms" not in chinese.content.decode()
    assert client.get(f"/billing/topups/{topup.public_id}/receipt.pdf").status_code == 200


def test_a_postpaid_customer_is_led_to_repay_not_to_top_up(client, billed):
    """Pay had been a dead end for bob ('Top-up is not available'), his ticket list said top-up is not
    supported and the new-ticket page led through Pay (found by a helper as bob)."""
    overview = client.get("/billing/").content.decode()
    assert 'href="/billing/repay/"' in overview and 'href="/billing/pay/"' not in overview  # the nav's Pay
    pay = client.get("/billing/pay/").content.decode()
    assert 'class="btn btn-primary" href="/billing/repay/"' in pay
    tickets = client.get("/billing/tickets/").content.decode()
    assert "finance credits your repayment" in tickets and "Top-up is not supported" not in tickets
    new = client.get("/billing/tickets/new/").content.decode()
    assert "› Repay ›" in new and "settles your bills" in new


def test_a_repayments_page_says_what_it_paid_on_each_bill_and_what_is_left(client, billed):
    """After paying part of a bill it said only "your balance has been credited" (found by a helper as bob)."""
    october, november = billed
    client.post("/billing/repay/", {"amount": "40.00", "request_key": "k-part"})
    topup = TopUp.objects.get()
    pay_in_sandbox(client, topup)
    page = client.get(f"/billing/topups/{topup.public_id}/").content.decode()
    assert "your repayment has been credited" in page and "your balance has been credited" not in page
    outcome = page.split('data-testid="repayment-outcome">', 1)[1].split("</p>", 1)[0]
    assert f"30.00 USD paid on {october.number}." in outcome and f"10.00 USD paid on {november.number}." in outcome
    assert f"{november.number} still has 40.00 USD to pay." in outcome and "kept as credit" not in outcome
    client.post("/billing/repay/", {"amount": "60.00", "request_key": "k-more"})
    more = TopUp.objects.latest("pk")
    pay_in_sandbox(client, more)
    outcome = client.get(f"/billing/topups/{more.public_id}/").content.decode().split('repayment-outcome">', 1)[1]
    assert f"40.00 USD paid on {november.number}. 20.00 USD kept as credit for your next bills." in outcome


def test_a_long_bank_address_wraps_inside_the_bill_pdf(client, billed):
    """A plain table cell never wraps: a bank's 104-character address had run off the A4 page (found by a helper)."""
    import io

    from pypdf import PdfReader
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from tickets.models import ReceivingAccount
    from tickets.receiving_accounts import add_receiving_account

    october, _ = billed
    parts = ["Commerzbank AG", "Filiale Frankfurt Kaiserplatz", "Kaiserstrasse 16", "60311 Frankfurt am Main"]
    address = ", ".join([*parts, "Hessen", "Germany"])  # 104 characters
    add_receiving_account(
        account=ReceivingAccount(
            bank_name="Commerzbank AG", account_name="Billing Center Cloud Ltd", iban="DE89370400440532013000",
            swift_bic="COBADEFF", currency="USD", bank_address=address,
        )
    )  # fmt: skip
    pdf = PdfReader(io.BytesIO(client.get(f"/billing/bills/{october.number}/bill.pdf").content))
    placed = []

    def seen(text, cm, tm, font, size):
        if text.strip() and any(word in text for word in ("Kaiserstrasse", "Hessen", "Filiale")):
            placed.append((text.strip(), tm[4] * cm[0] + cm[4]))

    for page in pdf.pages:
        page.extract_text(visitor_text=seen)
    assert placed and "Germany" in " ".join(text for text, _ in placed)
    width = float(pdf.pages[0].mediabox.width)
    assert all(x + stringWidth(text, "Helvetica", 10) <= width for text, x in placed), placed
