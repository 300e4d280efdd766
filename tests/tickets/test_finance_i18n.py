"""The finance area in Simplified Chinese: the customer's bank-transfer pages, the ticket e-mails in
the recipient's language, and finance's admin pages, each read with `Accept-Language: zh-hans`."""

from datetime import date
from decimal import Decimal

import pytest
from django.core import mail
from django.test import override_settings
from django.utils.html import escape
from djmoney.contrib.exchange.models import ExchangeBackend, Rate
from djmoney.money import Money

from accounts.models import OutboundEmail
from tests.helpers import staff_login
from tests.tickets.conftest import make_ticket, ticket_form_data
from tests.tickets.statement_files import Entry, camt053
from tests.tickets.test_finance_admin import CHANGELIST
from tickets.models import Invoice, StatementLine
from tickets.receiving_accounts import issue_invoice
from tickets.references import formatted, payment_reference
from tickets.review import approve_credit, confirm_and_credit, reject_ticket, request_information
from tickets.statements.crediting import assign_line
from tickets.statements.importing import import_statement

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def page(client, url, **kwargs) -> str:
    response = client.get(url, **ZH, **kwargs)
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.fixture
def alice(client, customer):
    client.force_login(customer)
    return customer


@pytest.mark.parametrize(
    "url, phrases",
    [
        (
            "/billing/pay/bank-transfer/",
            ["银行转账充值", "收款人", "转账前须知", "无需提交工单", "转账工单", "复制付款参考号"],
        ),
        (
            "/billing/tickets/new/",
            ["创建服务工单", "付款人名称", "转账金额", "汇款凭证", "问题描述", "后续流程", "（选填）"],
        ),
        ("/billing/tickets/", ["转账工单", "预计入账日期", "状态"]),
        ("/billing/invoices/", ["发票", "开票日期", "收款账户"]),
    ],
)
def test_the_customers_bank_transfer_pages_in_chinese(client, alice, bank, url, phrases):
    make_ticket(alice, bank)
    issue_invoice(invoice=Invoice(account=alice.account, amount=Money("320.50", "USD"), issue_date=date(2026, 11, 1)))
    text = page(client, url)
    for phrase in phrases:
        assert phrase in text, phrase
    assert "Before you transfer" not in text
    assert "Create Service Ticket" not in text


def test_a_ticket_and_an_invoice_in_chinese(client, alice, bank, clerk):
    ticket = make_ticket(alice, bank)
    request_information(ticket_id=ticket.pk, actor=clerk, message="Send page two.")
    text = page(client, f"/billing/tickets/{ticket.number}/")
    for phrase in [
        "转账工单 " + ticket.number,
        "需补充信息",
        "财务需要更多信息。",
        "回复财务",
        "银行流水号",
        "等待您的回复",
    ]:
        assert phrase in text, phrase
    assert "Send page two." in text  # what finance wrote stays as written
    invoice = issue_invoice(invoice=Invoice(account=alice.account, amount=Money("320.50", "USD")))
    text = page(client, f"/billing/invoices/{invoice.number}/")
    for phrase in [f"发票 {invoice.number}", "金额", "待付款", "请通过银行转账付款至", "附言", "下载 PDF"]:
        assert phrase in text, phrase


def test_the_ticket_forms_errors_in_chinese(client, alice, bank):
    data = ticket_form_data(bank, transfer_date="2099-01-01", contact_phone="call me")
    data.pop("certificates", None)
    response = client.post("/billing/tickets/new/", data, **ZH)
    text = response.content.decode()
    assert response.status_code == 400
    for phrase in ["请更正下方标出的字段。", "转账日期晚于今天。", "请用数字填写电话号码", "请附上银行汇款凭证"]:
        assert phrase in text, phrase


def test_a_submitted_ticket_is_confirmed_in_chinese(client, alice, bank):
    response = client.post("/billing/tickets/new/", ticket_form_data(bank), follow=True, **ZH)
    assert "已提交。财务将在所示日期前入账。" in response.content.decode()


def test_ticket_emails_are_in_the_recipients_language(alice, bank, clerk, settings):
    """No language of their own: the site's default, here Chinese; the subject and the body both."""
    settings.LANGUAGE_CODE = "zh-hans"
    ticket = make_ticket(alice, bank)
    request_information(ticket_id=ticket.pk, actor=clerk, message="Send page two.")
    reject_ticket(ticket_id=ticket.pk, actor=clerk, reason="Not on our statement.")
    asked, rejected = OutboundEmail.objects.order_by("pk")
    assert asked.subject == f"{ticket.number}：我们需要您补充银行转账信息"
    assert "财务需要您补充银行转账的信息" in asked.body
    assert "Send page two." in asked.body
    assert rejected.subject == f"{ticket.number}：您的银行转账未能入账"
    assert "原因：Not on our statement." in rejected.body
    assert not mail.outbox or all("bank transfer" not in m.subject for m in mail.outbox)


def test_ticket_emails_stay_english_for_an_english_recipient(alice, bank, clerk):
    ticket = make_ticket(alice, bank)
    reject_ticket(ticket_id=ticket.pk, actor=clerk, reason="Not on our statement.")
    email = OutboundEmail.objects.get()
    assert email.subject == f"{ticket.number}: we could not credit your bank transfer"
    assert "Reason: Not on our statement." in email.body


# --- Finance's admin ---------------------------------------------------------------------------


@pytest.fixture
def finance(client, clerk):
    staff_login(client, clerk)
    return clerk


def test_the_admin_home_in_chinese(client, finance):
    text = page(client, "/admin/")
    for phrase in ["待办", "已逾期工单", "今天到期的工单", "待复核", "未匹配的银行流水", "节假日日历"]:
        assert phrase in text, phrase


def test_the_ticket_queue_and_a_ticket_in_chinese(client, finance, customer, bank):
    ticket = make_ticket(customer, bank)
    text = page(client, CHANGELIST)
    for phrase in [
        "客户 · 付款人",
        "金额 · 银行流水号",
        "截止",
        "已提交",
        "全部未结",
        "24 小时内到期",
        "确认并入账所选工单",
    ]:
        assert phrase in text, phrase
    text = page(client, f"{CHANGELIST}{ticket.pk}/change/")
    for phrase in ["客户申报", "收款账户", "确认并入账", "要求补充信息", "驳回", "时间线与沟通记录", "完整记录"]:
        assert phrase in text, phrase


def test_an_actions_confirmation_page_and_its_message_in_chinese(client, finance, customer, bank):
    ticket = make_ticket(customer, bank)
    data = {"action": "request_information", "_selected_action": [str(ticket.pk)]}
    text = client.post(f"{CHANGELIST}?due=all", data, **ZH).content.decode()
    for phrase in ["要求补充信息：确定吗？", "客户申报于", "给客户的留言", "是的，我确定"]:
        assert phrase in text, phrase
    response = client.post(f"{CHANGELIST}?due=all", {**data, "post": "yes", "reason": "Page two?"}, follow=True, **ZH)
    assert f"{ticket.number}: 已要求客户补充信息" in response.content.decode()


@pytest.mark.parametrize(
    "url, phrases",
    [
        ("/admin/tickets/receivingaccount/", ["当前使用", "停用所选账户"]),
        ("/admin/tickets/statementfile/add/", ["上传银行对账单", "对账单文件", "导入对账单", "自动识别"]),
        ("/admin/tickets/statementline/", ["银行流水", "未匹配", "已匹配，待确认", "人工分配"]),
        ("/admin/tickets/calendarday/add/", ["法定节假日（非工作日）", "调休上班日", "按国务院通知中的名称填写。"]),
    ],
)
def test_finances_other_admin_pages_in_chinese(client, finance, bank, url, phrases):
    finance.is_superuser = True  # the calendar and statement pages, whatever the group holds
    finance.save()
    text = page(client, url)
    for phrase in phrases:
        assert phrase in text, phrase


EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def test_the_lines_our_code_writes_in_a_thread_read_in_each_readers_language(client, customer, bank, clerk, checker):
    """A proposal's figures and the credit's line are written once and read by finance and by the
    customer, each in their own language. They had been stored in the writer's: a Chinese clerk read
    the maker's proposal in English, an English clerk read the credit in the customer's Chinese."""
    sheet = ExchangeBackend.objects.create(name="finance", base_currency="USD")
    Rate.objects.create(backend=sheet, currency="CNY", value=Decimal("7.1"))
    customer.language = "zh-hans"
    customer.save(update_fields=["language"])
    ticket = make_ticket(customer, bank, amount=Money("10000.00", "CNY"))
    with override_settings(TICKET_SECOND_APPROVAL_ABOVE={"USD": Decimal("1000")}):
        confirm_and_credit(ticket_id=ticket.pk, actor=clerk, received=Money("10000.00", "CNY"), bank_reference="S-1")
        approve_credit(ticket_id=ticket.pk, actor=checker)
    staff_login(client, checker)
    url = f"{CHANGELIST}{ticket.pk}/change/"
    chinese, english = page(client, url), client.get(url, **EN).content.decode()
    assert "收到 ¥10,000.00，按 1 USD = 7.1000 CNY 入账 US$1,408.45。" in chinese
    assert "已入账 US$1,408.45（收到 ¥10,000.00，汇率 1 USD = 7.1000 CNY）。" in chinese and "credited" not in chinese
    assert "Received 10,000.00 CNY, credit 1,408.45 USD at 1 USD = 7.1000 CNY." in english
    assert "1,408.45 USD credited (received 10,000.00 CNY at 1 USD = 7.1000 CNY)." in english
    assert "已入账" not in english
    client.force_login(customer)  # the customer reads the public line only (with its rate), in their language
    text = client.get(f"/billing/tickets/{ticket.number}/", **EN).content.decode()  # her own language wins
    assert "已入账 US$1,408.45（收到 ¥10,000.00，汇率 1 USD = 7.1000 CNY）。" in text
    assert "按 1 USD = 7.1000 CNY 入账" not in text  # finance's proposal line stays finance's


def test_a_statement_lines_notes_read_in_each_clerks_language(client, finance, customer, bank):
    """Why a line matched, or did not, and what became of it, in the clerk's language: the importer
    had written them in English for every reader."""
    finance.is_superuser = True  # the statement pages, whatever the group holds
    finance.save()
    make_ticket(customer, bank)  # Alice Example paid into this account before
    rf, name = payment_reference(customer.account_id), f"{customer.account.name} (#{customer.account_id})"
    statement = camt053(
        [Entry("250.00", "FT-1", creditor_reference=rf), Entry("-20.00", "FT-2"), Entry("75.00", "FT-3")]
    )
    with override_settings(STATEMENT_AUTO_CREDIT=True):
        import_statement(receiving_account_id=bank.pk, data=statement, name="s.xml", actor=finance)
    chinese = page(client, "/admin/tickets/statementline/")
    for phrase in [
        f"付款参考号 {formatted(rf)} 指向 {customer.account.name}（#{customer.account_id}）。",
        "入账 US$250.00。",
        "支出：仅列出，不会入账。",
        "没有付款参考号、发票、账单或工单指向这笔转账。",
        f"建议：{customer.account.name}（#{customer.account_id}）（此付款人曾为其付款）",
    ]:
        assert phrase in chinese, phrase
    assert "never credited" not in chinese and "names this transfer" not in chinese
    english = client.get("/admin/tickets/statementline/", **EN).content.decode()
    for phrase in [
        f"RF reference {formatted(rf)} names {name}.",
        "A debit: listed, never credited.",
        f"Suggestions: {name} (paid from this payer before)",
    ]:
        assert escape(phrase) in english, phrase
    line = StatementLine.objects.get(bank_reference="FT-1")
    text = page(client, f"/admin/tickets/statementline/{line.pk}/change/")
    assert "说明" in text and "入账 US$250.00。" in text and "explanation_parts" not in text


def test_an_older_lines_notes_stay_as_written_and_grow_in_plain_text(client, finance, customer, bank):
    """A line matched before its notes had parts keeps its English text, and what is added later
    joins it as text: none of its lines is lost."""
    finance.is_superuser = True
    finance.save()
    import_statement(receiving_account_id=bank.pk, data=camt053([Entry("75.00", "FT-9")]), name="s", actor=finance)
    StatementLine.objects.update(explanation="Matched by hand in 2025.", explanation_parts=None)  # as stored then
    line = assign_line(line_id=StatementLine.objects.get().pk, account_id=customer.account_id, actor=finance)
    assert line.explanation_parts is None
    assert line.explanation.startswith(f"Matched by hand in 2025.\nAssigned to {customer.account.name}")
    text = page(client, "/admin/tickets/statementline/")
    assert "Matched by hand in 2025. Assigned to" in text


def test_a_thread_line_written_with_former_words_reads_as_the_new_ones(client, alice, bank):
    """The credit's line had said "matched with your bank statement" for ours; a ticket credited before the
    rewording keeps its stored parts and reads the new words, in either language."""
    from tickets.models import TicketEvent

    ticket = make_ticket(alice, bank)
    old = "Received on %(date)s, matched with your bank statement."
    TicketEvent.objects.create(
        ticket=ticket,
        kind=TicketEvent.Kind.CREDITED,
        public=True,
        body=old % {"date": "2026-12-01"},
        body_parts={"text": old, "args": {"date": "2026-12-01"}},
    )
    url = f"/billing/tickets/{ticket.number}/"
    assert "Received on 2026-12-01, matched with our bank statement." in client.get(url).content.decode()
    assert "已于 2026-12-01 收到，并与我方银行对账单匹配。" in page(client, url)
