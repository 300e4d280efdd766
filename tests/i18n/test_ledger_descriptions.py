"""The ledger entries our own code describes are read in the reader's language: a Chinese reader
sees each producer's description in Chinese on the Overview, the Statement and in its CSV, an
English reader in English; the stored English text (finance's audit trail, admin's search,
webhook payloads) is what it always was, and a description a usage API caller sent is shown
exactly as sent, in both languages."""

import csv
import io
from decimal import Decimal
from html import unescape

import pytest
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from accounts.enterprise import allocate, reclaim
from accounts.models import LedgerEntry
from accounts.usage_api.tokens import create_service_token
from tests.bills.conftest import OCTOBER, at, charge, close
from tests.factories import EnterpriseMemberAccountFactory, PendingTopUpFactory, PostpaidAccountFactory, UserFactory
from tests.fakes.stripe import dispute_object, event, paid_session, post_webhook, refund_object, signed
from tests.helpers import staff_login
from tests.intake import delivered
from tests.tickets.conftest import bank, certificate_dir, clerk, finance_group, make_ticket  # noqa: F401 (fixtures)
from tests.tickets.statement_files import Entry, camt053
from tickets.references import formatted, payment_reference
from tickets.review import confirm_and_credit
from tickets.statements.importing import import_statement

pytestmark = pytest.mark.django_db
PI = "pi_3QtestDescriptions00001"
CALLERS_OWN = "ecs.c6.large 1h, 按量"


def deliver(client, payload) -> str:
    return delivered(post_webhook(client, *signed(payload)))


def reader(client, user, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])
    client.force_login(user)


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return unescape(response.content.decode())


def csv_descriptions(client) -> list[str]:
    response = client.get("/billing/statement/", {"format": "csv"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    return [row[2] for row in rows[1:]]


@pytest.fixture
def alice(client, settings, stripe_settings, bank, clerk):  # noqa: F811 (fixtures imported above)
    """A prepaid customer whose statement holds an entry from each money path that describes one."""
    settings.STATEMENT_AUTO_CREDIT = True
    user = UserFactory(username="alice", email="alice@example.com")
    account = user.account
    plain = PendingTopUpFactory(account=account, created_by=user, amount=Money("100.00", "USD"))
    assert deliver(client, event("checkout.session.completed", paid_session(plain, payment_intent=PI))) == "credited"
    converted = PendingTopUpFactory(
        account=account,
        created_by=user,
        amount=Money("710.00", "CNY"),
        credit_amount=Money("100.00", "USD"),
        exchange_rate=Decimal("7.1"),
    )
    assert deliver(client, event("checkout.session.completed", paid_session(converted))) == "credited"
    deliver(client, event("refund.created", refund_object(payment_intent=PI, amount=2500)))
    dispute = {"payment_intent": PI, "amount": 1000, "id": "du_1QtestDescriptions01"}
    deliver(client, event("charge.dispute.created", dispute_object(**dispute)))
    deliver(client, event("charge.dispute.closed", dispute_object(**dispute, status="won")))
    ticket = make_ticket(user, bank)
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="FT1")
    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    in_yuan = make_ticket(user, bank, amount=Money("1000", "CNY"), bank_reference="FT2")
    confirm_and_credit(ticket_id=in_yuan.pk, actor=clerk, received=Money("1000.00", "CNY"), bank_reference="FT2")
    rf = formatted(payment_reference(account.pk))
    statement = camt053([Entry("120.00", "BANKREF-7", remittance=rf)])
    import_statement(receiving_account_id=bank.pk, data=statement, name="s.xml", actor=clerk)
    token = create_service_token(service="metering", name="Metering (test)")[1]
    for key, description in (("k1", ""), ("k2", CALLERS_OWN)):
        body = {"idempotency_key": key, "account": account.pk, "amount": "1.00", "currency": "USD"}
        answer = client.post(
            "/api/v1/charges",
            data={**body, "description": description} if description else body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert answer.status_code in (200, 201), answer.content
    plain.refresh_from_db()
    converted.refresh_from_db()
    ticket.refresh_from_db()
    in_yuan.refresh_from_db()
    refund = plain.refunds.get()
    user.refs = {"plain": plain.reference, "converted": converted.reference, "refund": refund.reference}
    user.refs |= {"ticket": ticket.number, "in_yuan": in_yuan.number}
    return user


def described(refs) -> list[tuple[str, str]]:
    """Each producer's entry: what the code has always stored, word for word, and its Chinese."""
    plain, converted = refs["plain"], refs["converted"]
    return [
        (f"Online top-up {plain}", f"在线充值 {plain}"),
        (
            f"Online top-up {converted}: paid 710.00 CNY at 1 USD = 7.1000 CNY",
            f"在线充值 {converted}：按汇率 1 USD = 7.1000 CNY 支付 ¥710.00",
        ),
        (f"Refund {refs['refund']} of top-up {plain}", f"充值 {plain} 的退款 {refs['refund']}"),
        (f"Card payment of top-up {plain} disputed (fraudulent)", f"充值 {plain} 的银行卡支付发生争议（欺诈交易）"),
        (f"Dispute of top-up {plain} won: the payment is returned", f"充值 {plain} 的争议胜诉：款项已退回"),
        (f"Bank transfer {refs['ticket']}", f"银行转账 {refs['ticket']}"),
        (
            f"Bank transfer {refs['in_yuan']}: received 1,000.00 CNY at 1 USD = 7.1000 CNY",
            f"银行转账 {refs['in_yuan']}：按汇率 1 USD = 7.1000 CNY 收到 ¥1,000.00",
        ),
        ("Bank transfer BANKREF-7, booked 2026-12-01", "银行转账 BANKREF-7，2026-12-01 入账"),
        ("Usage (metering)", "用量（metering）"),
    ]


def english(refs) -> list[str]:
    return [text for text, _ in described(refs)]


def chinese(refs) -> list[str]:
    return [text for _, text in described(refs)]


def test_the_stored_text_stays_english_and_a_callers_own_description_has_no_parts(alice):
    stored = set(LedgerEntry.objects.filter(account=alice.account).values_list("description", flat=True))
    assert stored == {*english(alice.refs), CALLERS_OWN}
    own = LedgerEntry.objects.get(description=CALLERS_OWN)
    assert own.description_parts is None
    assert LedgerEntry.objects.filter(account=alice.account, description_parts__isnull=True).count() == 1


def test_a_chinese_reader_sees_each_description_in_chinese_on_the_statement_and_in_its_csv(client, alice):
    reader(client, alice, "zh-hans")
    statement = page(client, "/billing/statement/")
    for text in chinese(alice.refs):
        assert text in statement
    for text in english(alice.refs):
        assert text not in statement
    assert CALLERS_OWN in statement  # as the caller sent it
    assert sorted(csv_descriptions(client)) == sorted([*chinese(alice.refs), CALLERS_OWN])
    overview = page(client, "/billing/")  # its ten most recent entries: all of them here
    assert all(text in overview for text in chinese(alice.refs)) and CALLERS_OWN in overview


def test_an_english_reader_sees_the_english_text(client, alice):
    reader(client, alice, "en")
    statement = page(client, "/billing/statement/")
    for text in english(alice.refs):
        assert text in statement
    assert sorted(csv_descriptions(client)) == sorted([*english(alice.refs), CALLERS_OWN])
    overview = page(client, "/billing/")
    assert all(text in overview for text in english(alice.refs)) and CALLERS_OWN in overview


def test_repayments_and_enterprise_fund_moves_are_described_in_the_readers_language(
    client,
    stripe_settings,
    bank,  # noqa: F811 (a fixture imported above)
    clerk,  # noqa: F811
):
    bob = UserFactory(username="bob", email="bob@example.com", account=PostpaidAccountFactory(name="Bob Shop"))
    charge(bob.account, "30.00", at(2026, 10, 10), "oct")
    bill = close(bob.account, OCTOBER)
    ticket = make_ticket(bob, bank, amount=Money("30.00", "USD"), bank_reference="FT9")
    confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("30.00", "USD"), bank_reference="FT9")
    ticket.refresh_from_db()
    assert ticket.ledger_entry.description == f"Bank transfer {ticket.number}; settles {bill.number}"
    reader(client, bob, "zh-hans")
    assert f"银行转账 {ticket.number}；结清账单 {bill.number}" in page(client, "/billing/statement/")
    assert bill.settlements.get().note == f"Bank transfer {ticket.number}"  # what paid it, on the bill's page
    assert f"银行转账 {ticket.number}" in page(client, f"/billing/bills/{bill.number}/")
    clerk.language = "zh-hans"  # finance's admin shows the same note in the clerk's language
    clerk.save(update_fields=["language"])
    staff_login(client, clerk)
    assert f"银行转账 {ticket.number}" in page(client, f"/admin/bills/bill/{bill.pk}/change/")

    member = EnterpriseMemberAccountFactory(name="Member One", enterprise_master__name="Dave Corp")
    dave = UserFactory(username="dave", account=member.enterprise_master)
    master = member.enterprise_master
    topup = PendingTopUpFactory(account=master, created_by=dave, amount=Money("300.00", "USD"))
    assert deliver(client, event("checkout.session.completed", paid_session(topup))) == "credited"
    pair = {"master_id": master.pk, "member_id": member.pk, "actor": dave}
    allocate(**pair, amount=Money("200.00", "USD"), request_key="allocate-1")
    reclaim(**pair, amount=Money("50.00", "USD"), request_key="reclaim-1")
    stored = set(LedgerEntry.objects.filter(kind="transfer").values_list("description", flat=True))
    assert stored == {"Allocation from Dave Corp to Member One", "Reclaim by Dave Corp from Member One"}
    reader(client, dave, "zh-hans")
    statement = page(client, "/billing/statement/")
    assert "Dave Corp 向 Member One 分配资金" in statement and "Dave Corp 从 Member One 收回资金" in statement
    assert "Dave Corp 从 Member One 收回资金" in csv_descriptions(client)
    reader(client, dave, "en")
    assert "Reclaim by Dave Corp from Member One" in page(client, "/billing/statement/")
