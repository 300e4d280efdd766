"""Transfer tickets through their services: submission, finance's actions, maker-checker,
duplicates, the deadline watch and the customer's e-mails."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from accounts.models import LedgerEntry, OutboundEmail
from accounts.verification import ledger_mismatches
from tests.factories import EnterpriseMemberAccountFactory, UserFactory
from tests.tickets.conftest import make_ticket, png_bytes, upload
from tickets.certificates import check_certificate
from tickets.deadlines import flag_ticket_deadlines
from tickets.exceptions import TicketNotAllowed, TicketStateError
from tickets.intake import reply_to_ticket
from tickets.models import TicketEvent, TransferTicket
from tickets.review import approve_credit, confirm_and_credit, reject_ticket, request_information

pytestmark = pytest.mark.django_db


def test_a_submitted_ticket_has_a_number_a_stored_deadline_and_its_certificate(customer, bank):
    with time_machine.travel(datetime(2026, 11, 27, 12, 0, tzinfo=UTC), tick=False):  # a Friday
        ticket = make_ticket(customer, bank)
    assert ticket.number == f"BT-2026-{ticket.pk:06d}"
    assert ticket.status == TransferTicket.Status.SUBMITTED
    # Mon, Tue, Wed 2 December, end of day in Shanghai = 15:59:59 UTC.
    assert ticket.due_at == datetime(2026, 12, 2, 15, 59, 59, tzinfo=UTC)
    certificate = ticket.certificates.get()
    assert certificate.content_type == "application/pdf" and len(certificate.sha256) == 64
    assert certificate.file.name.endswith(".pdf") and "certificate" not in certificate.file.name.split("/")[-1]
    assert certificate.file.storage.exists(certificate.file.name)
    assert ticket.account_id == customer.account_id and ticket.submitted_by == customer
    assert [e.kind for e in ticket.events.all()] == ["submitted"]


def test_enterprise_members_cannot_submit_transfer_tickets(bank):
    """Postpaid accounts may: their transfers repay bills (tests/bills/test_bank_repayment.py)."""
    user = UserFactory(account=EnterpriseMemberAccountFactory())
    with pytest.raises(TicketNotAllowed):
        make_ticket(user, bank)
    assert not TransferTicket.objects.exists()


def test_the_same_bank_reference_or_the_same_file_flags_both_tickets(customer, bank):
    first = make_ticket(customer, bank, bank_reference="FT1")
    other_customer = UserFactory()
    same_file = make_ticket(other_customer, bank, bank_reference="FT2")  # same PDF bytes as the first
    different = make_ticket(customer, bank, bank_reference="FT3", files=[upload("p.png", png_bytes((1, 2, 3)))])
    same_reference = make_ticket(customer, bank, bank_reference="ft3", files=[upload("q.png", png_bytes((9, 9, 9)))])
    for ticket in (first, same_file, different, same_reference):
        ticket.refresh_from_db()
    assert first.possible_duplicate and same_file.possible_duplicate
    assert different.possible_duplicate and same_reference.possible_duplicate
    lone = make_ticket(customer, bank, bank_reference="FT9", files=[upload("r.png", png_bytes((4, 5, 6)))])
    assert not TransferTicket.objects.get(pk=lone.pk).possible_duplicate


def test_confirm_and_credit_posts_one_entry_and_mails_the_customer_after_commit(
    customer, bank, clerk, django_capture_on_commit_callbacks
):
    ticket = make_ticket(customer, bank)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = confirm_and_credit(
            ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="STMT-1"
        )
    assert outcome.credited and not outcome.already
    ticket.refresh_from_db()
    assert ticket.status == "credited" and ticket.decided_by == clerk
    entry = LedgerEntry.objects.get(kind="bank_transfer")
    assert entry.source_ref == f"bank:{ticket.receiving_account_id}:STMT1"  # "stmt 1" is the same
    assert entry.amount == Money("250.00", "USD")
    assert ticket.ledger_entry == entry
    customer.account.refresh_from_db()
    assert customer.account.balance == Money("250.00", "USD")
    assert [m.subject for m in OutboundEmail.objects.all()] == [f"{ticket.number}: your bank transfer was credited"]
    # A double click, a retry: nothing more.
    again = confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="x")
    assert again.already and LedgerEntry.objects.filter(kind="bank_transfer").count() == 1
    assert OutboundEmail.objects.count() == 1
    assert ledger_mismatches() == []


def test_money_received_in_another_currency_is_converted_at_a_stored_rate_rounded_down(customer, bank, clerk):
    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    ticket = make_ticket(customer, bank, amount=Money("1000", "CNY"))
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("1000.00", "CNY"), bank_reference="S")
    ticket.refresh_from_db()
    assert ticket.credit_amount == Money("140.84", "USD")  # 1000 / 7.1 = 140.845… rounded down
    assert ticket.exchange_rate == Decimal("7.1") and ticket.rate_source == "finance"
    assert "1 USD = 7.1000 CNY" in ticket.ledger_entry.description


def test_a_large_credit_needs_a_second_different_finance_user(customer, bank, clerk, checker, settings):
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("1000")}
    ticket = make_ticket(customer, bank, amount=Money("5000.00", "USD"))
    outcome = confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("5000.00", "USD"), bank_reference="S")
    assert not outcome.credited and not LedgerEntry.objects.filter(kind="bank_transfer").exists()
    ticket.refresh_from_db()
    assert ticket.awaiting_approval and ticket.proposed_by == clerk and ticket.status == "under_review"
    with pytest.raises(TicketNotAllowed, match="second, different"):
        approve_credit(ticket_id=ticket.pk, actor=clerk)
    with pytest.raises(TicketNotAllowed, match="You proposed"):
        confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("5000.00", "USD"), bank_reference="S")
    approve_credit(ticket_id=ticket.pk, actor=checker)
    ticket.refresh_from_db()
    assert ticket.status == "credited" and ticket.decided_by == checker
    assert LedgerEntry.objects.get(kind="bank_transfer").amount == Money("5000.00", "USD")
    assert not ticket.events.get(kind="proposed").public  # the customer sees "credited", not the internals


def test_nobody_approves_a_ticket_they_submitted(bank, finance_group):
    clerk_with_account = UserFactory(is_staff=True)
    clerk_with_account.groups.add(finance_group)
    ticket = make_ticket(clerk_with_account, bank)
    with pytest.raises(TicketNotAllowed, match="your own account"):
        confirm_and_credit(
            ticket_id=ticket.pk, actor=clerk_with_account, received=Money("1", "USD"), bank_reference="S"
        )
    # Nor one that someone else submitted for the account the clerk belongs to.
    colleague = UserFactory(account=clerk_with_account.account)
    theirs = make_ticket(colleague, bank, bank_reference="OTHER")
    with pytest.raises(TicketNotAllowed, match="your own account"):
        confirm_and_credit(
            ticket_id=theirs.pk, actor=clerk_with_account, received=Money("1", "USD"), bank_reference="S"
        )
    # Nor, for a clerk of an enterprise member, one of its master: money moves between them without finance.
    member_clerk = UserFactory(is_staff=True, account=EnterpriseMemberAccountFactory(enterprise_master=theirs.account))
    member_clerk.groups.add(finance_group)
    with pytest.raises(TicketNotAllowed, match="your own account"):
        confirm_and_credit(ticket_id=theirs.pk, actor=member_clerk, received=Money("1", "USD"), bank_reference="S")


def test_one_statement_line_credits_one_ticket(customer, bank, clerk):
    """Two customers claim the same transfer (same reference, same certificate): finance can
    credit only one of them with that line of the statement."""
    first = make_ticket(customer, bank, bank_reference="DUP777")
    second = make_ticket(UserFactory(), bank, bank_reference="DUP777")
    confirm_and_credit(ticket_id=first.pk, actor=clerk, received=Money("900", "USD"), bank_reference="stmt 1")
    with pytest.raises(TicketStateError, match="already used for " + first.number):
        confirm_and_credit(ticket_id=second.pk, actor=clerk, received=Money("900", "USD"), bank_reference="STMT1")
    assert LedgerEntry.objects.filter(kind="bank_transfer").count() == 1
    assert TransferTicket.objects.get(pk=second.pk).status == "submitted"


def test_the_declared_amount_also_triggers_the_second_approval(customer, bank, clerk, checker, settings):
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("10000")}
    ticket = make_ticket(customer, bank, amount=Money("20000.00", "USD"))
    outcome = confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("9999", "USD"), bank_reference="S1")
    assert not outcome.credited  # a smaller typed figure does not skip the checker
    request_information(ticket_id=ticket.pk, actor=clerk, message="Which account did you pay from?")
    ticket.refresh_from_db()
    assert ticket.proposed_by is None and ticket.confirmed_bank_reference == ""
    assert ticket.events.filter(kind="proposal_withdrawn", actor=clerk, public=False).exists()
    outcome = confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("9999", "USD"), bank_reference="S1")
    assert not outcome.credited and not LedgerEntry.objects.exists()


def test_ticket_e_mails_go_to_the_users_own_address_not_the_typed_contact(customer, bank, clerk):
    ticket = make_ticket(customer, bank, contact_email="victim@elsewhere.example", contact_name="Customer,\n\nURGENT")
    request_information(ticket_id=ticket.pk, actor=clerk, message="Send page 2.")
    email = OutboundEmail.objects.get()
    assert email.to == "alice@example.com" and "URGENT" not in email.body


def test_customers_and_plain_staff_have_no_finance_powers(customer, bank):
    ticket = make_ticket(customer, bank)
    staff = UserFactory(account=None, is_staff=True)
    for actor in (customer, staff):
        with pytest.raises(TicketNotAllowed):
            confirm_and_credit(ticket_id=ticket.pk, actor=actor, received=Money("1", "USD"), bank_reference="S")
        with pytest.raises(TicketNotAllowed):
            reject_ticket(ticket_id=ticket.pk, actor=actor, reason="no")
    assert TransferTicket.objects.get(pk=ticket.pk).status == "submitted"


def test_information_request_reply_and_rejection_walk_the_timeline(
    customer, bank, clerk, django_capture_on_commit_callbacks
):
    ticket = make_ticket(customer, bank)
    with django_capture_on_commit_callbacks(execute=True):
        request_information(ticket_id=ticket.pk, actor=clerk, message="The certificate is cut off; send page 2.")
    assert TransferTicket.objects.get(pk=ticket.pk).status == "info_requested"
    reply_to_ticket(
        ticket_id=ticket.pk,
        user=customer,
        body="Here it is.",
        certificates=[check_certificate(upload("p2.png", png_bytes()))],
    )
    ticket.refresh_from_db()
    assert ticket.status == "under_review" and ticket.certificates.count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        reject_ticket(ticket_id=ticket.pk, actor=clerk, reason="The transfer was returned by your bank.")
    ticket.refresh_from_db()
    assert ticket.status == "rejected" and ticket.decision_note.startswith("The transfer was returned")
    assert [e.kind for e in ticket.events.all()] == ["submitted", "info_requested", "customer_reply", "rejected"]
    emails = list(OutboundEmail.objects.order_by("pk"))
    assert len(emails) == 2 and "send page 2" in emails[0].body and emails[0].to == "alice@example.com"
    with pytest.raises(TicketStateError, match="already rejected"):
        confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("1", "USD"), bank_reference="S")
    with pytest.raises(TicketStateError):
        reply_to_ticket(ticket_id=ticket.pk, user=customer, body="but…", certificates=[])
    assert not LedgerEntry.objects.filter(kind="bank_transfer").exists()


def test_deadline_flags_are_raised_once_per_state_and_mail_finance_once(
    customer, bank, clerk, checker, django_capture_on_commit_callbacks
):
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False):  # Monday 10:00 Shanghai
        ticket = make_ticket(customer, bank)
    assert ticket.due_at == datetime(2026, 11, 26, 15, 59, 59, tzinfo=UTC)  # Thursday
    waiting = make_ticket(customer, bank, bank_reference="OTHER")
    request_information(ticket_id=waiting.pk, actor=clerk, message="Which account?")
    OutboundEmail.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        assert flag_ticket_deadlines(now=datetime(2026, 11, 24, 0, 0, tzinfo=UTC)) == {"due_soon": 0, "overdue": 0}
        assert flag_ticket_deadlines(now=datetime(2026, 11, 26, 1, 0, tzinfo=UTC)) == {"due_soon": 1, "overdue": 0}
        assert flag_ticket_deadlines(now=datetime(2026, 11, 26, 2, 0, tzinfo=UTC)) == {"due_soon": 0, "overdue": 0}
        assert flag_ticket_deadlines(now=datetime(2026, 11, 27, 0, 0, tzinfo=UTC)) == {"due_soon": 0, "overdue": 1}
        assert flag_ticket_deadlines(now=datetime(2026, 11, 28, 0, 0, tzinfo=UTC)) == {"due_soon": 0, "overdue": 0}

    ticket.refresh_from_db()
    assert ticket.deadline_flag == "overdue"
    assert TransferTicket.objects.get(pk=waiting.pk).deadline_flag == ""  # waiting on the customer, not finance
    subjects = sorted(m.subject.split(" (")[0] + " → " + m.to for m in OutboundEmail.objects.all())
    assert subjects == [
        f"{ticket.number} is due soon → fiona@example.com",
        f"{ticket.number} is due soon → frank@example.com",
        f"{ticket.number} is overdue → fiona@example.com",
        f"{ticket.number} is overdue → frank@example.com",
    ]
    assert TicketEvent.objects.filter(ticket=ticket, kind__in=["due_soon", "overdue"]).count() == 2


def test_a_deadline_flag_event_cannot_be_written_twice(customer, bank):
    ticket = make_ticket(customer, bank)
    TicketEvent.objects.create(ticket=ticket, kind="overdue", public=False)
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        TicketEvent.objects.create(ticket=ticket, kind="overdue", public=False)
    assert connection.is_usable()


def test_a_rollback_after_crediting_mails_nothing_and_leaves_no_entry(customer, bank, clerk, settings):
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("1000000")}
    ticket = make_ticket(customer, bank)
    from django.db import transaction

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="S")
        raise Boom
    assert not LedgerEntry.objects.exists() and not OutboundEmail.objects.exists()
    assert TransferTicket.objects.get(pk=ticket.pk).status == "submitted"


def test_deadline_tracking_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["flag-ticket-deadlines"]
    from billing_center.celery import app

    app.loader.import_default_modules()
    assert entry["task"] in app.tasks and entry["schedule"] <= 600
    assert timedelta(hours=settings.TICKET_DUE_SOON_HOURS) == timedelta(hours=24)


@pytest.mark.django_db(transaction=True)
def test_beat_publishes_the_deadline_task_and_a_real_worker_flags_the_overdue_ticket(
    customer, bank, clerk, celery_worker
):
    """Celery beat's own scheduler publishes the entry through the broker; the worker runs it."""
    from celery.beat import Scheduler

    from billing_center.celery import app
    from tests.conftest import wait_for

    with time_machine.travel(datetime(2026, 11, 2, 2, 0, tzinfo=UTC), tick=False):
        ticket = make_ticket(customer, bank)
    scheduler = Scheduler(app=app, lazy=True)
    scheduler.setup_schedule()
    scheduler.apply_entry(scheduler.schedule["flag-ticket-deadlines"], producer=None)

    assert wait_for(lambda: TransferTicket.objects.get(pk=ticket.pk).deadline_flag == "overdue")
    assert OutboundEmail.objects.filter(to="fiona@example.com", subject__contains="is overdue").count() == 1


def test_a_deadline_mail_reads_in_each_clerk_s_language_and_finance_s_zone(customer, bank, clerk, settings):
    """Finance's group members had been mailed as bare addresses: a Chinese-reading clerk read "Due: … 15:59 UTC", in
    English, for a deadline counted at 23:59 in finance's zone (found by a helper). Finance's own addresses, with no
    language of their own, read the site's language in finance's zone."""
    clerk.language = "zh-hans"
    clerk.save()
    with time_machine.travel(datetime(2026, 11, 23, 2, 0, tzinfo=UTC), tick=False):
        ticket = make_ticket(customer, bank)
    OutboundEmail.objects.all().delete()
    flag_ticket_deadlines(now=datetime(2026, 11, 27, 0, 0, tzinfo=UTC))
    assert ticket.due_at == datetime(2026, 11, 26, 15, 59, 59, tzinfo=UTC)  # 23:59 in Shanghai
    chinese = OutboundEmail.objects.get(to=clerk.email)
    assert "2026-11-26 23:59 UTC+08:00" in chinese.body and "逾期" in chinese.subject
    assert "Transfer ticket" not in chinese.body

    settings.FINANCE_NOTIFY_EMAILS = ["finance@example.com"]
    later = make_ticket(customer, bank, bank_reference="LATER")
    flag_ticket_deadlines(now=later.due_at + timedelta(hours=1))
    shared = OutboundEmail.objects.get(to="finance@example.com")
    assert f"{later.due_at.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M} UTC+08:00" in shared.body
    assert "is overdue" in shared.subject
