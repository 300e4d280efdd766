"""A receiving account's name, as finance picks one in a list filter or reads it on a ticket: two
accounts of one bank and currency whose numbers end in the same four digits are told apart by their
region, and retired ones by the day they were retired, in English and Chinese; customers read each
account's region on both Bank Transfer pages in their language."""

import re
from datetime import UTC, datetime

import pytest
from django.utils import timezone, translation

from tests.bills.conftest import bob  # noqa: F401 (a fixture)
from tests.factories import UserFactory
from tests.tickets.conftest import usd_receiving_account, yuan_receiving_account
from tickets.models import ReceivingAccount
from tickets.receiving_accounts import add_receiving_account

pytestmark = pytest.mark.django_db
LANGUAGE = {"en": {"HTTP_ACCEPT_LANGUAGE": "en"}, "zh-hans": {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}}
TAG = re.compile(r"<[^>]+>")


def account(**fields) -> ReceivingAccount:
    values = {
        "bank_name": "HSBC",
        "account_name": "Billing Center Cloud Ltd",
        "account_number": "001-234-5678",
        "swift_bic": "HSBCHKHH",
        "currency": "USD",
        "region": "International",
    } | fields
    return ReceivingAccount.objects.create(**values)


def test_accounts_whose_numbers_end_alike_have_different_names():
    old = account(retired_at=datetime(2026, 3, 1, 12, tzinfo=UTC))
    older = account(account_number="999-000-5678", retired_at=datetime(2025, 9, 30, 12, tzinfo=UTC))
    current = account(account_number="777-111-5678")
    mainland = account(account_number="555-5678", region="Mainland China")
    names = [str(a) for a in (old, older, current, mainland)]
    assert len(set(names)) == 4, names
    assert names[2] == "HSBC · International · USD · …5678"
    assert names[0] == "HSBC · International · USD · …5678 (retired 2026-03-01)"
    assert names[3] == "HSBC · Mainland China · USD · …5678"
    with translation.override("zh-hans"):
        assert str(old) == "HSBC · International · USD · …5678 （2026-03-01 停用）"


def test_the_retired_day_is_the_readers_day():
    retired = account(retired_at=datetime(2026, 2, 28, 16, 30, tzinfo=UTC))  # 1 March, 00:30 in Shanghai
    with timezone.override("Asia/Shanghai"):
        assert str(retired).endswith("(retired 2026-03-01)")
    with timezone.override("UTC"):
        assert str(retired).endswith("(retired 2026-02-28)")


@pytest.fixture
def alice(client):
    usd_receiving_account(), yuan_receiving_account()
    return UserFactory(username="alice")


@pytest.fixture
def postpaid(bob):  # noqa: F811 (the fixture imported above)
    usd_receiving_account(), yuan_receiving_account()
    return bob


def page_text(client, url: str, language: str) -> str:
    response = client.get(url, **LANGUAGE[language])
    assert response.status_code == 200, (url, response.status_code)
    return TAG.sub("", response.content.decode())


@pytest.mark.parametrize(
    "who, url", [("alice", "/billing/pay/bank-transfer/"), ("postpaid", "/billing/repay/bank-transfer/")]
)
def test_receiving_accounts_are_told_apart_by_a_region_in_the_readers_language(client, request, who, url):
    """Both Bank Transfer pages show each account's currency and region; a region finance named as we
    know it reads in Chinese, one we do not know as finance typed it."""
    client.force_login(request.getfixturevalue(who))
    add_receiving_account(
        account=ReceivingAccount(
            bank_name="Barclays", account_name="Billing Center Cloud Ltd", account_number="20-32-06 1234",
            currency="GBP", swift_bic="BARCGB22", region="  the Channel Islands ",
        )
    )  # fmt: skip
    chinese = page_text(client, url, "zh-hans")
    for words in ("USD · 国际", "CNY · 中国大陆", "GBP · the Channel Islands", "以 CNY 付款"):
        assert words in chinese, words
    for english in ("International", "Mainland China"):
        assert english not in chinese
    english = page_text(client, url, "en")
    for words in ("USD · International", "CNY · Mainland China", "For payments in CNY"):
        assert words in english, words


def test_a_region_is_known_whatever_its_case_or_spacing(client, alice):
    ReceivingAccount.objects.filter(currency="CNY").update(region="mainland  CHINA")
    client.force_login(alice)
    assert "CNY · 中国大陆" in page_text(client, "/billing/pay/bank-transfer/", "zh-hans")
