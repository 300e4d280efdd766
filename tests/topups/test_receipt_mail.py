"""The receipt e-mail of a credited top-up, word for word in both languages: a plain top-up and
one paid in another currency (with its locked rate), credited by the worker's batch."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from djmoney.money import Money

from accounts.models import OutboundEmail
from tests.factories import PendingTopUpFactory, UserFactory
from tests.fakes.stripe import event, paid_session, post_webhook, signed
from tests.intake import apply_stored
from topups.models import TopUp

pytestmark = pytest.mark.django_db
RATE_AS_OF = datetime(2026, 11, 30, 8, 15, tzinfo=UTC)


def credited(client, *, language: str, converted: bool) -> tuple[TopUp, OutboundEmail]:
    payer = UserFactory(
        username=f"payer-{language}", email=f"{language}@example.com", first_name="Lin", last_name="Wei",
        language=language, account__name="Acme Cloud Ltd",
    )  # fmt: skip
    if converted:
        topup = PendingTopUpFactory(
            account=payer.account, created_by=payer, amount=Money("710.00", "CNY"),
            credit_amount=Money("100.00", "USD"), exchange_rate=Decimal("7.1"), rate_as_of=RATE_AS_OF,
        )  # fmt: skip
    else:
        topup = PendingTopUpFactory(account=payer.account, created_by=payer, amount=Money("1234.50", "USD"))
    assert post_webhook(client, *signed(event("checkout.session.completed", paid_session(topup)))).status_code == 200
    apply_stored()
    topup.refresh_from_db()
    return topup, OutboundEmail.objects.get(dedupe_key=f"topup-credited:{topup.public_id}")


ENGLISH = """Hello Lin Wei,

your top-up {reference} has been credited to Acme Cloud Ltd.

  Amount paid:      {paid}
  Amount credited:  {credited}{rate}
  Credited at:      {credited_at}
  Balance after:    {credited}

Your receipt: http://127.0.0.1:8000/billing/topups/{public_id}/receipt/

Billing Center
"""
CHINESE = """Lin Wei，您好：

您的充值 {reference} 已入账至 Acme Cloud Ltd。

  支付金额：      {paid}
  入账金额：  {credited}{rate}
  入账时间：      {credited_at}
  变动后余额：    {credited}

您的收据： http://127.0.0.1:8000/billing/topups/{public_id}/receipt/

计费中心
"""
CASES = {
    # language, converted: subject, body template, paid, credited, rate line
    ("en", False): ("Top-up {reference} credited: 1,234.50 USD", ENGLISH, "1,234.50 USD", "1,234.50 USD", ""),
    ("en", True): (
        "Top-up {reference} credited: 100.00 USD", ENGLISH, "710.00 CNY", "100.00 USD",
        "\n  Exchange rate:    1 USD = 7.1000 CNY (as of 2026-11-30 08:15 UTC)",
    ),
    ("zh-hans", False): ("充值 {reference} 已入账：US$1,234.50", CHINESE, "US$1,234.50", "US$1,234.50", ""),
    ("zh-hans", True): (
        "充值 {reference} 已入账：US$100.00", CHINESE, "¥710.00", "US$100.00",
        "\n  汇率：    1 USD = 7.1000 CNY (截至 2026-11-30 08:15 UTC)",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("language", "converted"), list(CASES))
def test_the_receipt_mail_reads_word_for_word(client, stripe_settings, language, converted):
    subject, body, paid, credited_amount, rate = CASES[language, converted]
    topup, mail = credited(client, language=language, converted=converted)

    values = {"reference": topup.reference, "public_id": topup.public_id}
    assert mail.subject == subject.format(**values)
    assert mail.body == body.format(
        **values, paid=paid, credited=credited_amount, rate=rate, credited_at=f"{topup.credited_at:%Y-%m-%d %H:%M} UTC"
    )


def test_the_receipt_mail_gives_the_payer_s_zone_as_its_offset(client, stripe_settings):
    """A Shanghai payer's receipt had read "Credited at: 2026-12-06 02:40 CST": Chicago's abbreviation too. It says
    the offset from UTC, as the pages do (billing_center.moments)."""
    from zoneinfo import ZoneInfo

    payer = UserFactory(username="lin", email="lin@example.com", language="zh-hans", time_zone="Asia/Shanghai")
    topup = PendingTopUpFactory(account=payer.account, created_by=payer, amount=Money("25.00", "USD"))
    assert post_webhook(client, *signed(event("checkout.session.completed", paid_session(topup)))).status_code == 200
    apply_stored()
    topup.refresh_from_db()
    mail = OutboundEmail.objects.get(dedupe_key=f"topup-credited:{topup.public_id}")
    local = topup.credited_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"入账时间：      {local:%Y-%m-%d %H:%M} UTC+08:00\n" in mail.body and "CST" not in mail.body
