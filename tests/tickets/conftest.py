"""Fixtures for bank transfers: a receiving account, finance clerks, and real certificate files."""

import io
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from djmoney.money import Money
from PIL import Image
from reportlab.pdfgen import canvas

from accounts.models import User
from billing_center.management.commands.seed_demo import FINANCE_PERMISSIONS
from tests.factories import UserFactory
from tickets.certificates import check_certificate
from tickets.intake import TicketDetails, submit_ticket
from tickets.models import ReceivingAccount, StatementCsvFormat
from tickets.receiving_accounts import add_receiving_account

# The Finance group exactly as the product seeds it.
FINANCE_CODENAMES = FINANCE_PERMISSIONS


def pdf_bytes(text: str = "Bank transfer certificate") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.save()
    return buffer.getvalue()


def png_bytes(colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, "PNG")
    return buffer.getvalue()


# ReportLab stamps each PDF with its time and a random id: one fixed file, so "the same
# certificate twice" really is the same bytes.
SAMPLE_PDF = pdf_bytes()


def upload(name: str = "certificate.pdf", content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, SAMPLE_PDF if content is None else content, content_type="application/pdf")


def use_certificate_storage(monkeypatch, settings, location) -> None:
    """Point the certificates storage alias, and the field that resolved it at import, at `location`."""
    from django.core.files.storage import storages

    from tickets.models import Certificate, HeldCertificate

    settings.STORAGES = {
        **settings.STORAGES,
        "certificates": {**settings.STORAGES["certificates"], "OPTIONS": {"location": str(location)}},
    }
    storages._storages.pop("certificates", None)  # Django caches storage instances by alias
    for model in (Certificate, HeldCertificate):
        monkeypatch.setattr(model._meta.get_field("file"), "storage", storages["certificates"])


@pytest.fixture(autouse=True)
def certificate_dir(monkeypatch, settings, tmp_path):
    """Each test stores certificates in its own folder, so "no file was left" can be checked."""
    folder = tmp_path / "certificates"
    use_certificate_storage(monkeypatch, settings, folder)
    yield folder
    from django.core.files.storage import storages

    storages._storages.pop("certificates", None)


def usd_receiving_account() -> ReceivingAccount:
    """The current USD account customers transfer to (retiring any earlier one)."""
    return add_receiving_account(
        account=ReceivingAccount(
            bank_name="Commerzbank AG",
            account_name="Billing Center Cloud Ltd",
            iban="DE89370400440532013000",
            swift_bic="COBADEFF",
            currency="USD",
        )
    )


def yuan_receiving_account() -> ReceivingAccount:
    """A current CNY account in mainland China, numbered without an IBAN."""
    return add_receiving_account(
        account=ReceivingAccount(
            bank_name="Bank of China",
            account_name="Billing Center Cloud Ltd",
            account_number="6222000011112222",
            currency="CNY",
            region="Mainland China",
        )
    )


def chinese_csv_columns(receiving_account: ReceivingAccount) -> StatementCsvFormat:
    """The column mapping of a Chinese bank's CSV export (tests.tickets.statement_files.csv_statement), in GB18030,
    with its optional 币种 (currency) column."""
    return StatementCsvFormat.objects.create(
        receiving_account=receiving_account,
        encoding="gb18030",
        date_column="交易日期",
        amount_column="金额",
        balance_column="余额",
        reference_column="流水号",
        payer_column="付款人",
        remittance_column="附言",
        currency_column="币种",
    )


@pytest.fixture
def bank(db) -> ReceivingAccount:
    return usd_receiving_account()


@pytest.fixture
def csv_columns(bank) -> StatementCsvFormat:
    return chinese_csv_columns(bank)


@pytest.fixture
def finance_group(db) -> Group:
    group, _ = Group.objects.get_or_create(name=settings.FINANCE_GROUP)
    group.permissions.set(Permission.objects.filter(codename__in=FINANCE_CODENAMES))
    return group


def finance_clerk(group, username) -> User:
    user = UserFactory(username=username, account=None, is_staff=True, email=f"{username}@example.com")
    user.groups.add(group)
    return User.objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def clerk(finance_group) -> User:
    return finance_clerk(finance_group, "fiona")


@pytest.fixture
def checker(finance_group) -> User:
    return finance_clerk(finance_group, "frank")


@pytest.fixture
def customer(db) -> User:
    return UserFactory(email="alice@example.com", first_name="Alice")


def details(bank, **overrides) -> TicketDetails:
    values = {
        "payer_name": "Alice Example",
        "payer_bank": "Example Bank",
        "payer_account": "12345678",
        "amount": Money("250.00", "USD"),
        "transfer_date": date(2026, 11, 20),
        "bank_reference": "FT2611200001",
        "receiving_account": bank,
        "contact_name": "Alice",
        "contact_email": "alice@example.com",
    }
    values.update(overrides)
    return TicketDetails(**values)


def make_ticket(customer, bank, *, files=None, **overrides):
    certificates = [check_certificate(f) for f in (files or [upload()])]
    return submit_ticket(
        account_id=customer.account_id, user=customer, details=details(bank, **overrides), certificates=certificates
    )


def ticket_form_data(bank, **overrides) -> dict:
    """The Create Service Ticket form as a customer fills it in, one PDF attached."""
    data = {
        "payer_name": "Alice Example",
        "payer_bank": "Example Bank",
        "payer_account": "12345678",
        "amount": "250.00",
        "currency": "USD",
        "transfer_date": (timezone.localdate() - timedelta(days=1)).isoformat(),
        "bank_reference": "ft 2611 2000 01",
        "receiving_account": str(bank.pk),
        "invoice_number": "",
        "payment_reference": "",
        "contact_name": "Alice",
        "contact_email": "alice@example.com",
        "contact_phone": "+86 10 1234 5678",
        "problem_description": "",
        "certificates": [upload()],
    }
    data.update(overrides)
    return data
