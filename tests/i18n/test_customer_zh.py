"""The customer's pages, messages, e-mails and PDFs in Simplified Chinese: a browser asking for
zh-hans gets Chinese words (data such as names, references and amounts unchanged), English
stays English, and e-mails and texts are written in their recipient's language."""

import csv
import io

import pytest
from django.utils import translation
from djmoney.money import Money
from pypdf import PdfReader

from accounts.models import AlertRecipient, OutboundEmail, OutboundSms
from bills.reminders import send_bill_reminders
from money.formatting import format_money
from tests.bills.conftest import NOVEMBER, OCTOBER, at, bob, charge, close  # noqa: F401 (bob is a fixture)
from tests.factories import EnterpriseMemberAccountFactory, PendingTopUpFactory, UserFactory
from tests.fakes.stripe import event, paid_session, post_webhook, signed
from tests.intake import apply_stored
from topups.models import TopUp

pytestmark = pytest.mark.django_db
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
CHINESE_NAME = "北京云创科技有限公司"


@pytest.fixture
def alice(client, stripe_settings):
    user = UserFactory(username="alice", email="alice@example.com", account__name=CHINESE_NAME)
    client.force_login(user)
    return user


@pytest.fixture
def bills(client, bob):  # noqa: F811 (the fixture imported above)
    bob.account.name = CHINESE_NAME
    bob.account.save(update_fields=["name"])
    charge(bob.account, "30.00", at(2026, 10, 10), "oct", description="vm small")
    charge(bob.account, "50.00", at(2026, 11, 10), "nov", description="vm large")
    client.force_login(bob)
    return close(bob.account, OCTOBER), close(bob.account, NOVEMBER)


def credited_topup(client, user) -> TopUp:
    topup = PendingTopUpFactory(account=user.account, created_by=user)
    post_webhook(client, *signed(event("checkout.session.completed", paid_session(topup))))
    apply_stored()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    return topup


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def page(client, url: str, **params) -> str:
    response = client.get(url, params, **ZH)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def pdf_in_both_languages(client, url: str, *, english: str, chinese: list[str], artifact) -> tuple[str, str]:
    """The PDF's text as an English and as a Chinese reader downloads it; both draw the Chinese
    account name, each has its own labels, and the Chinese one is kept to look at."""
    in_english = pdf_text(client.get(url).content)
    response = client.get(url, **ZH)
    in_chinese = pdf_text(response.content)
    artifact.write_bytes(response.content)
    assert CHINESE_NAME in in_english
    assert english in in_english
    assert CHINESE_NAME in in_chinese
    assert english not in in_chinese
    for words in chinese:
        assert words in in_chinese, words
    return in_english, in_chinese


def test_a_receipt_pdf_draws_a_chinese_account_name_and_chinese_labels(client, alice, screenshot_dir):
    topup = credited_topup(client, alice)
    url = f"/billing/topups/{topup.public_id}/receipt.pdf"
    labels = ["计费中心 — 付款收据", "入账金额"]
    _, text = pdf_in_both_languages(
        client, url, english="Amount credited", chinese=labels, artifact=screenshot_dir.parent / "receipt-zh.pdf"
    )
    assert topup.reference in text
    assert "US$100.00" in text


def test_a_bill_pdf_draws_a_chinese_account_name_and_chinese_labels(client, bills, screenshot_dir):
    october, _ = bills
    url = f"/billing/bills/{october.number}/bill.pdf"
    labels = ["应付金额", "本期用量"]
    _, text = pdf_in_both_languages(
        client, url, english="Amount due", chinese=labels, artifact=screenshot_dir.parent / "bill-zh.pdf"
    )
    assert "vm small" in text  # data stays as it is


def test_a_prepaid_customers_pages_in_chinese(client, alice):
    topup = credited_topup(client, alice)
    overview = page(client, "/billing/")
    for words in ("可用余额", "近 30 天余额", "支出预警", "最近余额变动", "计费币种", CHINESE_NAME):
        assert words in overview, words
    assert "Available balance" not in overview

    pay = page(client, "/billing/pay/")
    for words in ("为账户充值", "充值金额", "在线支付", "银行转账", "下一步"):
        assert words in pay, words

    auto = page(client, "/billing/pay/auto/")
    for words in ("自动充值", "每日上限", "保存银行卡"):
        assert words in auto, words

    records = page(client, "/billing/topups/")
    for words in ("充值记录", "导出 CSV", "已入账", topup.reference):
        assert words in records, words

    statement = page(client, "/billing/statement/")
    assert "账户收支明细" in statement  # the menu's 收支明细, as everywhere a customer reads it
    assert "变动后余额" in statement

    alerts = page(client, "/billing/alerts/")
    assert "预警记录" in alerts
    assert "暂无预警。" in alerts

    detail = page(client, f"/billing/topups/{topup.public_id}/")
    for words in ("已收到付款 — 余额已入账", "详情", "查看收据", "入账金额"):
        assert words in detail, words

    receipt = page(client, f"/billing/topups/{topup.public_id}/receipt/")
    for words in ("收据", "确认已收到本次充值并已入账", "支付金额", CHINESE_NAME):
        assert words in receipt, words

    preferences = page(client, "/account/preferences/")
    assert "付款币种" in preferences
    assert "您的计费币种" in preferences


def test_the_same_pages_stay_in_english_without_the_header(client, alice):
    overview = client.get("/billing/").content.decode()
    assert "Available balance" in overview
    assert "可用余额" not in overview
    assert "Top up your account" in client.get("/billing/pay/").content.decode()


def test_a_postpaid_customers_bills_and_repay_pages_in_chinese(client, bills):
    october, _ = bills
    overview = page(client, "/billing/")
    for words in ("账单与还款", "未结清账单", "信用额度", "还款"):
        assert words in overview, words

    listing = page(client, "/billing/bills/")
    for words in ("应付金额", "到期日", "未结清", october.number):
        assert words in listing, words

    detail = page(client, f"/billing/bills/{october.number}/")
    for words in (f"账单 {october.number}", "本期用量", "此账单尚未付款。", "US$30.00"):
        assert words in detail, words
    assert 'data-testid="bill-amount">US$30.00<' in detail  # the amount due is still set in bold

    repay = page(client, "/billing/repay/")
    for words in ("偿还账单", "待付账单", "或支付指定金额", "在线支付"):
        assert words in repay, words


def test_the_enterprise_pages_in_chinese(client):
    member = EnterpriseMemberAccountFactory(name="成都分公司")
    master_user = UserFactory(account=member.enterprise_master)
    client.force_login(master_user)
    enterprise = page(client, "/billing/enterprise/")
    for words in ("企业子账号", "可分配金额", "分配给 成都分公司", "从 成都分公司 收回未用资金", "预算与预警"):
        assert words in enterprise, words

    response = client.post(
        "/billing/enterprise/allocate/",
        {"member": member.pk, "amount": "5.00", "request_key": "k" * 24},
        **ZH,
    )
    assert response.status_code == 409  # refused: more than the master has
    assert "可分配金额为 US$0.00，无法分配 US$5.00。" in response.content.decode()

    client.force_login(UserFactory(account=member))
    overview = page(client, "/billing/")
    assert f"来自 {member.enterprise_master.name} 的资金" in overview
    assert "收到的分配" in overview


def test_form_errors_and_messages_in_chinese(client, alice):
    response = client.post("/billing/alert/", {"action": "add_phone", "number": "138 0013 8000"}, **ZH)
    assert response.status_code == 400
    assert "请加上以 + 开头的国家代码" in response.content.decode()

    response = client.post("/billing/alert/", {"action": "save", "enabled": "on", "threshold": ""}, **ZH)
    assert "请输入触发短信提醒的余额。" in response.content.decode()

    response = client.post("/billing/alert/", {"action": "save", "threshold": "50"}, follow=True, **ZH)
    assert "支出预警已关闭。" in response.content.decode()

    response = client.post("/account/preferences/", {"payment_currency": "CNY"}, follow=True, **ZH)
    assert "已保存。今后在线充值将以 CNY 付款。" in response.content.decode()


def test_csv_headings_are_chinese_for_a_chinese_reader_and_keys_in_english(client, alice):
    credited_topup(client, alice)

    def first_row(**headers) -> list[str]:
        response = client.get("/billing/topups/", {"format": "csv"}, **headers)
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        return list(csv.reader(io.StringIO(text)))[:2]

    english, row = first_row()
    assert english[:3] == ["created_at", "reference", "method"]
    chinese, chinese_row = first_row(**ZH)
    assert chinese[:4] == ["时间", "编号", "方式", "支付金额"]
    assert chinese_row[1] == row[1]  # the data is the same


def test_an_e_mail_is_built_in_the_recipients_language_not_the_callers(bills, bob, settings):  # noqa: F811
    october, november = bills
    AlertRecipient.objects.create(
        account=bob.account, kind="sms", address="+8613800138000", confirmed_at=at(2026, 11, 1)
    )
    with translation.override("zh-hans"):  # a Chinese clerk's request, say: the site's language is English
        send_bill_reminders(now=at(2026, 12, 20, 9))
    emails = OutboundEmail.objects.filter(subject__contains=november.number)
    assert emails.get().subject == f"Bill {november.number} is overdue: 50.00 USD to pay"

    settings.LANGUAGE_CODE = "zh-hans"  # a recipient without a language of their own gets the site's
    OutboundEmail.objects.all().delete()
    OutboundSms.objects.all().delete()
    type(october).objects.filter(pk__in=[october.pk, november.pk]).update(reminder="")
    send_bill_reminders(now=at(2026, 12, 20, 9))
    email = OutboundEmail.objects.filter(subject__contains=november.number).get()
    assert email.subject == f"账单 {november.number} 已逾期：待付 US$50.00"
    sms = OutboundSms.objects.filter(text__contains=november.number).get()
    assert sms.text.startswith(
        f"计费中心：{CHINESE_NAME} 的账单 {november.number} 已于 {november.due_on:%Y-%m-%d} 到期"
    )


def test_the_credited_e_mail_is_in_the_recipients_language(client, alice, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    topup = credited_topup(client, alice)
    email = OutboundEmail.objects.get(dedupe_key=f"topup-credited:{topup.public_id}")
    with translation.override("zh-hans"):
        amount = format_money(Money("100.00", "USD"))
    assert email.subject == f"充值 {topup.reference} 已入账：{amount}"
    assert f"您的充值 {topup.reference} 已入账至 {CHINESE_NAME}。" in email.body
    assert "入账金额：" in email.body
