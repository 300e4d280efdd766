"""The customer's bank-transfer pages: Pay → Bank Transfer, Create Service Ticket, the
ticket page with its thread, certificates, invoices — and what they refuse."""

import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone
from djmoney.money import Money
from PIL import Image

from tests.factories import EnterpriseMemberAccountFactory, PostpaidAccountFactory, UserFactory
from tests.helpers import staff_login
from tests.tickets.conftest import (
    SAMPLE_PDF,
    make_ticket,
    png_bytes,
    ticket_form_data,
    upload,
    use_certificate_storage,
    yuan_receiving_account,
)
from tests.tickets.test_certificates import bilevel_png, object_stream_pdf
from tickets.models import Certificate, HeldCertificate, Invoice, ReceivingAccount, TransferTicket
from tickets.receiving_accounts import add_receiving_account, issue_invoice
from tickets.references import formatted, payment_reference
from tickets.review import request_information

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client, customer):
    client.force_login(customer)
    return customer


def stored_files(settings) -> list[str]:
    from pathlib import Path

    root = Path(settings.STORAGES["certificates"]["OPTIONS"]["location"])
    return sorted(str(p) for p in root.rglob("*") if p.is_file())  # a folder of this test only


def test_bank_transfer_page_shows_only_the_current_account_a_checked_reference_and_a_qr_code(client, alice, bank):
    retired = ReceivingAccount.objects.create(
        bank_name="Old Harbour Bank",
        account_name="Billing Center",
        account_number="999000111",
        swift_bic="DEUTDEFF",
        currency="USD",
        region="Old",
        retired_at=timezone.now(),
    )
    page = client.get("/billing/pay/bank-transfer/").content.decode()
    assert "DE89 3704 0044 0532 0130 00" in page and "COBADEFF" in page
    assert retired.account_number not in page and "Old Harbour" not in page
    reference = payment_reference(alice.account_id)
    assert reference.startswith("RF") and re.sub(r"\s", "", page).count(reference) >= 1
    assert "<svg" in page and "Transfer Ticket" in page and "2–3 days" in page
    assert "Scan with your banking app" in page  # the QR code's caption, in plain words
    assert 'href="/billing/tickets/new/"' in page


def test_the_bank_transfer_page_says_a_transfer_in_another_currency_needs_a_ticket(client, alice, bank):
    """Our statement credits a referenced transfer by itself only in the account's own currency; one
    paid into the CNY account waits for the customer's ticket, which converts it at a locked rate."""
    plain = client.get("/billing/pay/bank-transfer/").content.decode()
    assert "You need no ticket" in plain and 'data-testid="other-currency-ticket"' not in plain

    yuan_receiving_account()
    page = client.get("/billing/pay/bank-transfer/").content.decode()
    assert "(RF…) and paid in <strong>USD</strong>? <strong>You need no ticket</strong>" in page
    assert "Paid in CNY? Open a <strong>Transfer Ticket</strong> for it, even with the reference" in page
    assert "converts the amount into USD at the rate of the day it is credited" in page

    chinese = client.get("/billing/pay/bank-transfer/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "以 <strong>USD</strong> 付款" in chinese and "以 CNY 付款？" in chinese


@pytest.mark.parametrize("factory", [PostpaidAccountFactory, EnterpriseMemberAccountFactory])
def test_accounts_that_cannot_top_up_are_refused_the_top_up_page(client, factory):
    client.force_login(UserFactory(account=factory()))
    assert client.get("/billing/pay/bank-transfer/").status_code == 403


def test_a_member_account_is_refused_a_ticket_on_a_forged_post(client, bank, settings):
    """Postpaid accounts may file one: it repays their bills (tests/bills/test_bank_repayment.py)."""
    client.force_login(UserFactory(account=EnterpriseMemberAccountFactory()))
    response = client.post("/billing/tickets/new/", ticket_form_data(bank))
    assert response.status_code == 403
    assert not TransferTicket.objects.exists() and stored_files(settings) == []


def test_submitting_a_ticket_records_it_under_the_signed_in_user_and_shows_the_timeline(
    client, alice, bank, settings, certificate_dir
):
    form = client.get("/billing/tickets/new/").content.decode()
    assert "The receipt is recorded under" in form and alice.account.name in form
    response = client.post("/billing/tickets/new/", ticket_form_data(bank))
    assert response.status_code == 303
    ticket = TransferTicket.objects.get()
    assert response["Location"] == f"/billing/tickets/{ticket.number}/"
    assert ticket.account == alice.account and ticket.submitted_by == alice
    assert ticket.bank_reference == "FT2611200001" and ticket.amount == Money("250.00", "USD")
    assert stored_files(settings) == [str(certificate_dir / ticket.certificates.get().file.name)]
    page = client.get(response["Location"]).content.decode()
    assert ticket.number in page and "Submitted" in page and "Under review" in page
    assert f"expected by {ticket.due_at:%Y-%m-%d}" in page
    assert "certificate.pdf" in page


def test_the_page_sent_twice_is_one_ticket_and_the_second_lands_on_it(client, alice, bank, settings, certificate_dir):
    """A double click, or Back and send again (with a corrected amount): one ticket, and the page
    says where it is and how to correct it. Each sending had made a ticket for finance to reject."""
    form = client.get("/billing/tickets/new/").content.decode()
    key = re.search(r'name="request_key" value="([^"]+)"', form).group(1)
    first = client.post("/billing/tickets/new/", ticket_form_data(bank, request_key=key))
    again = client.post("/billing/tickets/new/", ticket_form_data(bank, request_key=key, amount="2500.00"), follow=True)
    ticket = TransferTicket.objects.get()
    assert first["Location"] == again.redirect_chain[0][0] == f"/billing/tickets/{ticket.number}/"
    assert f"Ticket {ticket.number} was submitted from this page already. To correct it, reply on it below." in (
        again.content.decode()
    )
    assert ticket.amount == Money("250.00", "USD") and ticket.certificates.count() == 1
    assert len(stored_files(settings)) == 1  # the second sending's file was not kept
    assert 'name="request_key" value="' + key not in client.get("/billing/tickets/new/").content.decode()


def test_a_ticket_names_an_invoice_and_a_retired_account_from_that_invoice(client, alice, bank):
    old_invoice = issue_invoice(
        invoice=Invoice(account=alice.account, amount=Money("320", "USD"), issue_date=date(2026, 9, 1))
    )
    new_bank = add_receiving_account(
        account=ReceivingAccount(
            bank_name="New Bank", account_name="BC", account_number="11112222", swift_bic="DEUTDEFF", currency="USD"
        )
    )
    bank.refresh_from_db()
    assert bank.retired_at is not None and new_bank.is_current
    invoice_page = client.get(f"/billing/invoices/{old_invoice.number}/").content.decode()
    assert "DE89 3704 0044 0532 0130 00" in invoice_page and "New Bank" not in invoice_page
    response = client.post(
        "/billing/tickets/new/",
        ticket_form_data(
            bank, invoice_number=old_invoice.number.lower(), payment_reference=payment_reference(alice.account_id)
        ),
    )
    assert response.status_code == 303
    ticket = TransferTicket.objects.get()
    assert ticket.invoice == old_invoice and ticket.receiving_account == bank


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"amount": "1e3"}, "amount", "digits"),
        ({"amount": "-5"}, "amount", "positive"),
        ({"amount": "10.505"}, "amount", "at most 2 decimals"),
        ({"amount": "100.5", "currency": "JPY"}, "amount", "no minor unit"),
        ({"currency": "XXX"}, "currency", "valid choice"),
        ({"transfer_date": "2099-01-01"}, "transfer_date", "future"),
        ({"transfer_date": "2020-01-01"}, "transfer_date", "older than a year"),
        ({"bank_reference": "<script>"}, "bank_reference", "as printed"),
        ({"invoice_number": "INV-2026-999999"}, "invoice_number", "no invoice"),
        ({"payment_reference": "RF00BC00000001"}, "payment_reference", "mistyped"),
        ({"contact_email": "not-an-email"}, "contact_email", "valid email"),
        ({"contact_phone": "call me\nmaybe"}, "contact_phone", "phone number"),
        ({"problem_description": "x" * 2001}, "problem_description", "at most 2000"),
        ({"payer_name": "a" * 201}, "payer_name", "at most 200"),
        ({"receiving_account": "999999"}, "receiving_account", "valid choice"),
        ({"certificates": []}, "certificates", "Attach the bank transfer certificate"),
    ],
)
def test_bad_input_is_a_400_with_a_message_and_nothing_is_written(
    client, alice, bank, settings, overrides, field, message
):
    response = client.post("/billing/tickets/new/", ticket_form_data(bank, **overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors and message.lower() in " ".join(errors[field]).lower()
    assert not TransferTicket.objects.exists() and not Certificate.objects.exists()
    # Only the checked certificate is kept, for the corrected form (tickets.held_certificates).
    held = HeldCertificate.objects.all()
    assert len(held) == (0 if field == "certificates" else 1)
    assert stored_files(settings) == sorted(h.file.path for h in held)


def test_transfer_ticket_from_an_invoice_is_prefilled_with_what_the_invoice_asks(client, alice, bank):
    invoice = issue_invoice(
        invoice=Invoice(account=alice.account, amount=Money("320.50", "USD"), issue_date=date(2026, 11, 1))
    )
    page = client.get(f"/billing/invoices/{invoice.number}/").content.decode()
    assert f"/billing/tickets/new/?invoice={invoice.number}" in page
    assert f"{invoice.number} {formatted(payment_reference(alice.account_id))}" in page  # the remark, as on the PDF
    form = client.get("/billing/tickets/new/", {"invoice": invoice.number}).context["form"]
    assert form.initial["invoice_number"] == invoice.number and form.initial["amount"] == "320.50"
    assert form.initial["receiving_account"] == bank.pk
    other = issue_invoice(
        invoice=Invoice(account=UserFactory().account, amount=Money("9", "USD"), issue_date=date(2026, 11, 1))
    )
    assert (
        "invoice_number" not in client.get("/billing/tickets/new/", {"invoice": other.number}).context["form"].initial
    )


def test_someone_elses_payment_reference_or_invoice_is_refused(client, alice, bank):
    other = UserFactory()
    their_invoice = issue_invoice(
        invoice=Invoice(account=other.account, amount=Money("10", "USD"), issue_date=date(2026, 11, 1))
    )
    response = client.post(
        "/billing/tickets/new/",
        ticket_form_data(
            bank, invoice_number=their_invoice.number, payment_reference=payment_reference(other.account_id)
        ),
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"invoice_number", "payment_reference"}


HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("statement.pdf", HTML, "not a PDF, PNG or JPEG"),
        ("scan.png", b"\x89PNG\r\n\x1a\n" + HTML, "not a readable PNG"),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "not a PDF, PNG or JPEG",
        ),
        ("empty.pdf", b"", "empty"),
        ("../../etc/passwd.pdf", HTML, "not a PDF, PNG or JPEG"),
        ("invoice\u202efdp.exe", b"MZ\x90\x00" + b"\x00" * 100, "not a PDF, PNG or JPEG"),
        ("bomb.png", bilevel_png(20_000, 20_000), "too large"),
        ("statement.pdf", object_stream_pdf(b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"), "active content"),
    ],
)
def test_hostile_uploads_are_refused_with_a_clear_message_and_no_ticket(
    client, alice, bank, settings, name, content, message
):
    response = client.post("/billing/tickets/new/", ticket_form_data(bank, certificates=[upload(name, content)]))
    assert response.status_code == 400
    errors = " ".join(response.context["form"].errors["certificates"])
    assert message in errors
    assert "/" not in errors.split("”")[0].lstrip("“")  # the name is shown without its path
    assert not TransferTicket.objects.exists() and not Certificate.objects.exists() and stored_files(settings) == []


def test_one_bad_file_among_good_ones_refuses_the_whole_ticket(client, alice, bank, settings):
    files = [upload(), upload("photo.png", png_bytes()), upload("evil.pdf", HTML)]
    response = client.post("/billing/tickets/new/", ticket_form_data(bank, certificates=files))
    assert response.status_code == 400 and not TransferTicket.objects.exists()
    # The two good files are held for the corrected form (tests/tickets/test_held_certificates.py); evil.pdf is not.
    held = stored_files(settings)
    assert len(held) == 2 and all("/held/" in path for path in held) and not Certificate.objects.exists()


def test_more_than_five_certificates_are_refused(client, alice, bank, settings):
    files = [upload(f"c{i}.png", png_bytes((i, i, i))) for i in range(6)]
    response = client.post("/billing/tickets/new/", ticket_form_data(bank, certificates=files))
    assert response.status_code == 400
    assert "at most 5" in " ".join(response.context["form"].errors["certificates"])
    assert not TransferTicket.objects.exists()


def test_an_eleven_megabyte_file_is_refused(client, alice, bank, settings):
    big = SAMPLE_PDF + b"%" + b"0" * (11 * 1024 * 1024)
    response = client.post("/billing/tickets/new/", ticket_form_data(bank, certificates=[upload("big.pdf", big)]))
    assert response.status_code == 400
    assert "10 MB" in " ".join(response.context["form"].errors["certificates"])
    assert stored_files(settings) == []


def test_storage_failing_on_save_leaves_no_ticket_pointing_at_a_missing_file(
    client, alice, bank, settings, tmp_path, monkeypatch
):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the storage expects a folder")
    use_certificate_storage(monkeypatch, settings, blocker / "certificates")  # every save fails for real
    response = client.post("/billing/tickets/new/", ticket_form_data(bank))
    assert response.status_code == 503
    assert "nothing was submitted" in response.content.decode()
    assert not TransferTicket.objects.exists() and not Certificate.objects.exists()


def test_images_are_stored_re_encoded_without_metadata(client, alice, bank):
    buffer = io.BytesIO()
    image = Image.new("RGB", (50, 40), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    image.save(buffer, "JPEG", exif=exif.tobytes())
    response = client.post(
        "/billing/tickets/new/", ticket_form_data(bank, certificates=[upload("photo.jpg", buffer.getvalue())])
    )
    assert response.status_code == 303
    certificate = Certificate.objects.get()
    stored = certificate.file.read()
    assert certificate.content_type == "image/jpeg" and b"SecretCam" not in stored
    assert Image.open(io.BytesIO(stored)).size == (50, 40)


def test_certificate_download_is_private_to_the_owner_and_finance(client, alice, bank, clerk):
    ticket = make_ticket(alice, bank)
    certificate = ticket.certificates.get()
    url = f"/billing/tickets/{ticket.number}/certificates/{certificate.pk}/"
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == SAMPLE_PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in response["Content-Security-Policy"]

    client.force_login(UserFactory())  # another customer
    assert client.get(url).status_code == 404
    assert client.get(f"/billing/tickets/{ticket.number}/").status_code == 404
    client.force_login(UserFactory(account=None, is_staff=True))  # plain staff, no finance permission
    assert client.get(url).status_code == 404
    staff_login(client, clerk)
    assert client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_media_urls_do_not_serve_certificates(client, alice, bank):
    ticket = make_ticket(alice, bank)
    name = ticket.certificates.get().file.name
    for url in (f"/media/{name}", f"/media/certificates/{name}", f"/{name}"):
        assert client.get(url).status_code == 404


def test_another_customers_ticket_invoice_and_ids_are_404(client, alice, bank):
    other = UserFactory()
    their_ticket = make_ticket(other, bank)
    their_invoice = issue_invoice(
        invoice=Invoice(account=other.account, amount=Money("10", "USD"), issue_date=date(2026, 11, 1))
    )
    for url in (
        f"/billing/tickets/{their_ticket.number}/",
        f"/billing/invoices/{their_invoice.number}/",
        f"/billing/invoices/{their_invoice.number}/pdf/",
        f"/billing/tickets/{their_ticket.number}/certificates/{their_ticket.certificates.get().pk}/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/billing/tickets/{their_ticket.number}/", {"body": "hi"}).status_code == 404
    assert their_ticket.events.count() == 1


def test_the_customer_replies_to_an_information_request_with_another_certificate(client, alice, bank, clerk):
    ticket = make_ticket(alice, bank)
    request_information(ticket_id=ticket.pk, actor=clerk, message="Please send the second page.")
    page = client.get(f"/billing/tickets/{ticket.number}/").content.decode()
    assert "Finance needs more information" in page and "Please send the second page." in page
    response = client.post(
        f"/billing/tickets/{ticket.number}/", {"body": "Attached.", "certificates": [upload("p2.png", png_bytes())]}
    )
    assert response.status_code == 303
    ticket.refresh_from_db()
    assert ticket.status == "under_review" and ticket.certificates.count() == 2
    assert client.post(f"/billing/tickets/{ticket.number}/", {"body": "  "}).status_code == 400


def test_user_text_is_shown_as_text_not_markup(client, alice, bank):
    response = client.post(
        "/billing/tickets/new/",
        ticket_form_data(bank, problem_description="<script>alert(1)</script> {{7*7}}", payer_name="<b>Mallory</b>"),
    )
    ticket_page = client.get(response["Location"]).content.decode()
    assert "<script>alert(1)</script>" not in ticket_page and "&lt;script&gt;" in ticket_page
    assert "{{7*7}}" in ticket_page and "49" not in ticket_page.split("{{7*7}}")[0][-5:]
    assert "<b>Mallory</b>" not in ticket_page


def test_empty_states_point_the_customer_somewhere(client, alice):
    tickets = client.get("/billing/tickets/").content.decode()
    assert "No transfer tickets yet." in tickets and "/billing/pay/bank-transfer/" in tickets
    assert "No invoices yet." in client.get("/billing/invoices/").content.decode()


def test_the_invoice_pdf_prints_the_account_valid_at_issue(client, alice, bank):
    invoice = issue_invoice(
        invoice=Invoice(account=alice.account, amount=Money("320", "USD"), issue_date=date(2026, 9, 1))
    )
    add_receiving_account(
        account=ReceivingAccount(
            bank_name="New Bank", account_name="BC", account_number="11112222", swift_bic="DEUTDEFF", currency="USD"
        )
    )
    response = client.get(f"/billing/invoices/{invoice.number}/pdf/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    from pypdf import PdfReader

    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert invoice.number in text and "DE89 3704 0044 0532 0130 00" in text and "New Bank" not in text


def test_top_up_records_list_bank_transfers_beside_online_top_ups(client, alice, bank, clerk):
    from tests.factories import PendingTopUpFactory
    from tickets.review import confirm_and_credit

    online = PendingTopUpFactory(account=alice.account, created_by=alice)
    credited = make_ticket(alice, bank, bank_reference="T1")
    open_ticket = make_ticket(alice, bank, bank_reference="T2", amount=Money("75.00", "USD"))
    confirm_and_credit(ticket_id=credited.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="S")

    page = client.get("/billing/topups/").content.decode()
    assert online.reference in page and credited.number in page and open_ticket.number in page
    bank_only = client.get("/billing/topups/", {"method": "bank_transfer"}).content.decode()
    assert online.reference not in bank_only and credited.number in bank_only
    done = client.get("/billing/topups/", {"status": "credited"}).content.decode()
    assert credited.number in done and open_ticket.number not in done and online.reference not in done
    waiting = client.get("/billing/topups/", {"status": "pending"}).content.decode()
    assert open_ticket.number in waiting and online.reference in waiting and credited.number not in waiting

    response = client.get("/billing/topups/", {"method": "bank_transfer", "format": "csv"})
    rows = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert len(rows) == 3 and any(credited.number in row and "250.00" in row for row in rows)


def test_nul_bytes_in_addresses_are_a_400_not_a_database_error(client, alice):
    for url in (
        "/billing/tickets/%00/",
        "/billing/tickets/BT%00/certificates/1/",
        "/billing/invoices/%00/pdf/",
        "/billing/tickets/new/?invoice=%00",
    ):
        assert client.get(url).status_code == 400, url


def test_invisible_and_control_characters_are_removed_from_what_people_type(client, alice, bank):
    response = client.post(
        "/billing/tickets/new/",
        ticket_form_data(
            bank,
            payer_name="Ali\u202ece\u200b Example",
            contact_name="Customer,\r\n\r\nURGENT: verify at https://evil.example",
            problem_description="line one\r\nline two\u2066",
            contact_email="x" * 300 + "@example.com",
        ),
    )
    assert response.status_code == 400 and "contact_email" in response.context["form"].errors
    response = client.post(
        "/billing/tickets/new/",
        ticket_form_data(
            bank,
            payer_name="Ali\u202ece\u200b Example",
            contact_name="Customer,\r\n\r\nURGENT",
            problem_description="line one\r\nline two\u2066",
        ),
    )
    ticket = TransferTicket.objects.get()
    assert ticket.payer_name == "Alice Example"
    assert ticket.contact_name == "Customer, URGENT"
    assert ticket.problem_description == "line one\nline two"


def test_a_jpy_invoice_prefills_an_amount_its_form_accepts(client, alice, bank):
    add_receiving_account(
        account=ReceivingAccount(
            bank_name="MUFG", account_name="BC", account_number="1234567", swift_bic="BOTKJPJT", currency="JPY"
        )
    )
    invoice = issue_invoice(
        invoice=Invoice(account=alice.account, amount=Money("15000", "JPY"), issue_date=date(2026, 11, 1))
    )
    initial = client.get("/billing/tickets/new/", {"invoice": invoice.number}).context["form"].initial
    assert initial["amount"] == "15000" and initial["currency"] == "JPY"


STEP = re.compile(r'<li class="(\w+)"[^>]*><div>([^<]+)</div><div class="small">([^<]*)</div></li>')


@pytest.mark.parametrize("status", ["submitted", "rejected"])
def test_the_timeline_gives_each_steps_day_in_the_readers_time_zone(client, alice, bank, status):
    """Sent at 01:20 on the 5th in Shanghai (17:20 UTC on the 4th): the steps read the 5th, as the thread's times do."""
    alice.time_zone = "Asia/Shanghai"
    alice.save(update_fields=["time_zone"])
    ticket = make_ticket(alice, bank)
    evening = datetime(2026, 12, 4, 17, 20, tzinfo=UTC)
    changes = {"submitted_at": evening, "due_at": evening + timedelta(days=2)}
    if status == "rejected":
        changes |= {"status": status, "decided_at": evening}
    TransferTicket.objects.filter(pk=ticket.pk).update(**changes)
    steps = {label: when for _, label, when in STEP.findall(client.get(f"/billing/tickets/{ticket.number}/").text)}
    assert steps["Submitted"] == "2026-12-05"
    if status == "rejected":
        assert steps["Rejected"] == "2026-12-05"
    else:
        assert steps["Credited"] == "expected by 2026-12-07"


@pytest.mark.parametrize(
    ("language", "day"), [("en", "Wednesday, 9 December 2026"), ("zh-hans", "2026年12月9日 星期三")]
)
def test_the_day_finance_will_credit_by_reads_in_the_readers_language_order(client, alice, bank, language, day):
    """Chinese puts the year first and the weekday last (it had read 星期三, 9 十二月 2026, the English order)."""
    alice.language, alice.time_zone = language, "Asia/Shanghai"
    alice.save(update_fields=["language", "time_zone"])
    ticket = make_ticket(alice, bank)
    TransferTicket.objects.filter(pk=ticket.pk).update(due_at=datetime(2026, 12, 9, 15, 59, 59, tzinfo=UTC))
    page = client.get(f"/billing/tickets/{ticket.number}/").content.decode()
    outcome = re.search(r'data-testid="outcome">(.*?)</div>', page, re.S).group(1)
    assert f"<strong>{day}</strong>" in outcome


def test_paid_to_offers_the_account_in_the_customers_own_currency_first(client, alice, bank):
    """A USD customer's form had offered the CNY account (first by name) beside the USD currency it filled in."""
    add_receiving_account(
        account=ReceivingAccount(
            bank_name="Bank of China", account_name="Billing Center Cloud Ltd", account_number="6217000010001234567",
            swift_bic="BKCHCNBJ", currency="CNY", region="Mainland China",
        )
    )  # fmt: skip
    form = client.get("/billing/tickets/new/").context["form"]
    offered = list(form.fields["receiving_account"].queryset)
    assert [account.currency for account in offered] == ["USD", "CNY"] and offered[0] == bank


def test_a_postpaid_customer_finds_his_tickets_and_the_overview_names_one_finance_asked_about(client, bank, clerk):
    """bob repays by bank transfer too, but had no Transfer tickets entry, and when finance asked
    about his ticket the Overview said nothing: he heard only by e-mail."""
    bob = UserFactory(account=PostpaidAccountFactory(name="Bob's Shop"))
    client.force_login(bob)
    overview = client.get("/billing/").content.decode()
    assert 'href="/billing/tickets/"' in overview and "Finance needs more information" not in overview
    ticket = make_ticket(bob, bank)
    request_information(ticket_id=ticket.pk, actor=clerk, message="Please send page two.")
    overview = client.get("/billing/").content.decode()
    assert f"Finance needs more information on ticket {ticket.number} before crediting it." in overview
    assert f'href="/billing/tickets/{ticket.number}/">Reply →' in overview
    chinese = client.get("/billing/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Finance needs" not in chinese


def test_a_tickets_payment_reference_reads_grouped_as_the_pay_page_prints_it(client, customer, bank, clerk):
    """The ticket pages had shown "RF17BC00000001", the customer had copied "RF17 BC00 0000 01"."""
    reference = payment_reference(customer.account_id)
    ticket = make_ticket(customer, bank, payment_reference=reference)
    client.force_login(customer)
    assert formatted(reference) in client.get(f"/billing/tickets/{ticket.number}/").content.decode()
    client.logout()
    staff_login(client, clerk)
    assert formatted(reference) in client.get(f"/admin/tickets/transferticket/{ticket.pk}/change/").content.decode()


def test_the_ticket_form_names_our_account_by_its_last_digits_which_fit_a_phone(client, alice, bank):
    """The option had carried the whole IBAN, cut off at 390 px (found in a design review)."""
    page = client.get("/billing/tickets/new/").content.decode()
    assert f'<option value="{bank.pk}">Commerzbank AG · USD …3000</option>' in page
    assert "DE89 3704" not in page.split('id="id_receiving_account"')[1].split("</select>")[0]
    assert "Pay › Bank Transfer shows it in full" in page


def test_a_customer_without_invoices_is_not_asked_for_an_invoice_number(client, alice, bank):
    """A customer topping up has no invoice: the page had asked for "your invoice number and this reference", and
    told them to pay as printed on an invoice they never had (found by a helper in Chinese)."""
    page = client.get("/billing/pay/bank-transfer/").content.decode()
    assert "In the transfer remark, quote this reference</h2>" in page and 'data-testid="invoice-note"' not in page
    from tickets.models import Invoice
    from tickets.receiving_accounts import issue_invoice

    issue_invoice(invoice=Invoice(account=alice.account, amount=Money("450.00", "USD"), description="Cloud services"))
    page = client.get("/billing/pay/bank-transfer/").content.decode()
    assert "quote your invoice number and this reference</h2>" in page and 'data-testid="invoice-note"' in page
