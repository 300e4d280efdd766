"""Alert texts and e-mails in the language of whoever receives them: the account's people's
choice for its recipients, each recipient in their own when a member's alert also goes to its
master, the history in the account's own language; Chinese SMS within their UCS-2 segments."""

from decimal import Decimal

import pytest
from django.utils import timezone, translation
from djmoney.money import Money

from accounts.alerts import check_balance_alert, set_alert
from accounts.ledger import post_ledger_entry
from accounts.models import AlertRecipient, BalanceAlert, OutboundEmail, OutboundSms
from accounts.notifications import language_of, recipient_language
from accounts.sms.segments import MAX_SEGMENTS, count_segments
from tests.factories import EnterpriseMemberAccountFactory, PrepaidAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def below_threshold(account, *, number: str, email: str):
    post_ledger_entry(account_id=account.pk, amount=Money("100.00", "USD"), kind="adjustment", source_ref="seed")
    AlertRecipient.objects.create(account=account, kind="sms", address=number, confirmed_at=timezone.now())
    AlertRecipient.objects.create(account=account, kind="email", address=email, confirmed_at=timezone.now())
    set_alert(account_id=account.pk, enabled=True, threshold=Decimal("50.00"), actor=None)
    post_ledger_entry(account_id=account.pk, amount=Money("-60.00", "USD"), kind="usage", source_ref="usage:1")


def test_a_chinese_customers_alert_sms_and_email_are_in_chinese():
    account = PrepaidAccountFactory(name="测试账号")
    UserFactory(account=account, language="zh-hans")
    below_threshold(account, number="+8613800138000", email="ops@example.cn")
    assert check_balance_alert(account_id=account.pk) is not None
    sms = OutboundSms.objects.get(to="+8613800138000")
    assert "余额为 US$40.00" in sms.text and "预警阈值 US$50.00" in sms.text
    assert count_segments(sms.text).encoding == "UCS-2"
    assert count_segments(sms.text).count <= MAX_SEGMENTS
    email = OutboundEmail.objects.get(to="ops@example.cn")
    assert email.subject == "测试账号：余额低于 US$50.00"
    assert "计费中心" in email.body
    assert "计费中心" in BalanceAlert.objects.get(account=account).text


def test_an_english_customers_alert_reads_as_before():
    account = PrepaidAccountFactory(name="Acme")
    UserFactory(account=account)  # no language chosen: the site's default
    below_threshold(account, number="+8613800138001", email="ops@acme.example")
    check_balance_alert(account_id=account.pk)
    sms = OutboundSms.objects.get(to="+8613800138001")
    assert sms.text.startswith("Billing Center: Acme balance is 40.00 USD, below your alert threshold of 50.00 USD.")
    assert OutboundEmail.objects.get(to="ops@acme.example").subject == "Acme: balance below 50.00 USD"


def test_a_members_alert_reaches_its_master_in_the_masters_language():
    member = EnterpriseMemberAccountFactory(name="Member", alert_copy_to_master=True)
    UserFactory(account=member, language="zh-hans")
    UserFactory(account=member.enterprise_master)  # the master's people read English
    AlertRecipient.objects.create(
        account=member.enterprise_master, kind="sms", address="+8613800138009", confirmed_at=timezone.now()
    )
    below_threshold(member, number="+8613800138002", email="member@example.cn")
    check_balance_alert(account_id=member.pk)
    assert "余额" in OutboundSms.objects.get(to="+8613800138002").text
    assert OutboundSms.objects.get(to="+8613800138009").text.startswith("Billing Center: Member balance is")


def test_recipient_language_reads_the_users_field_and_falls_back_to_the_site_default():
    chinese, plain = UserFactory(language="zh-hans"), UserFactory()
    assert language_of(chinese) == "zh-hans"
    assert language_of(chinese.account) == "zh-hans"
    with recipient_language(chinese):
        assert translation.get_language() == "zh-hans"
    with recipient_language(plain):
        assert translation.get_language() == "en"
    with recipient_language("finance@example.com"):  # an address alone has no language
        assert translation.get_language() == "en"


def test_a_refusal_is_worded_in_the_readers_language():
    account = PrepaidAccountFactory(type="postpaid")
    with translation.override("zh-hans"):
        assert "后付费账号不支持充值" in account.topup_refusal
