"""Every amount on a customer page is written the one way its language writes money (money.formatting):
"US$1,234.50" on a Chinese page and "1,234.50 USD" on an English one, the big balance too, whose
currency is set apart in small type where the language puts it."""

import re

import pytest
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from tests.bills.conftest import NOVEMBER, at, bob, charge, close  # noqa: F401 (bob is a fixture)
from tests.factories import EnterpriseMemberAccountFactory, UserFactory
from tests.tickets.conftest import usd_receiving_account, yuan_receiving_account

pytestmark = pytest.mark.django_db
LANGUAGE = {"en": {"HTTP_ACCEPT_LANGUAGE": "en"}, "zh-hans": {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}}
TAG = re.compile(r"<[^>]+>")
MAIN = re.compile(r"<main id=\"main\".*?</main>", re.S)
# An amount written as English writes it: digits, then the code ("1,234.50 USD"; "164.20USD" once the
# big balance's tags are stripped). Rates ("7.1000 CNY") have four decimals and are not amounts.
CODE_AFTER = re.compile(r"\d\.\d\d(?!\d)\s*(?:USD|CNY|EUR|GBP)\b")
SYMBOL_BEFORE = re.compile(r"(?:US\$|¥|€|£)\s*-?\d")  # as Chinese writes it: "US$1,234.50"


def main_text(client, url: str, language: str) -> str:
    response = client.get(url, **LANGUAGE[language])
    assert response.status_code == 200, (url, response.status_code)
    return TAG.sub("", MAIN.search(response.content.decode()).group(0))


@pytest.fixture
def alice(client):
    user = UserFactory(username="alice")
    post_ledger_entry(account_id=user.account_id, amount=Money("1234.50", "USD"), kind="adjustment", source_ref="a")
    usd_receiving_account(), yuan_receiving_account()
    return user


@pytest.fixture
def postpaid(bob):  # noqa: F811 (the fixture imported above)
    charge(bob.account, "201.55", at(2026, 11, 10), "nov")
    close(bob.account, NOVEMBER)
    usd_receiving_account(), yuan_receiving_account()
    return bob


@pytest.fixture
def master():
    member = EnterpriseMemberAccountFactory()
    account = member.enterprise_master
    post_ledger_entry(account_id=account.pk, amount=Money("964.20", "USD"), kind="adjustment", source_ref="m")
    return UserFactory(account=account)


PAGES = [
    ("alice", "/billing/"),
    ("alice", "/billing/pay/"),
    ("alice", "/billing/pay/bank-transfer/"),
    ("postpaid", "/billing/"),
    ("postpaid", "/billing/repay/"),
    ("postpaid", "/billing/repay/bank-transfer/"),
    ("master", "/billing/enterprise/"),
]


@pytest.mark.parametrize("who, url", PAGES)
def test_every_amount_on_a_page_is_written_the_way_its_language_writes_money(client, request, who, url):
    """The big balance beside the other amounts: "US$1,234.50" on a Chinese page like the rest of it,
    never "1,234.50 USD" there; English pages keep the code after the digits throughout."""
    client.force_login(request.getfixturevalue(who))
    chinese = main_text(client, url, "zh-hans")
    assert SYMBOL_BEFORE.search(chinese), chinese
    assert CODE_AFTER.findall(chinese) == []
    english = main_text(client, url, "en")
    assert CODE_AFTER.search(english), english
    assert SYMBOL_BEFORE.findall(english) == []


def test_the_big_balance_puts_the_currency_where_the_language_writes_it(client, alice):
    client.force_login(alice)
    zh = client.get("/billing/", **LANGUAGE["zh-hans"]).content.decode()
    assert '<span class="cur cur-before">US$</span>1,234.50</div>' in zh
    en = client.get("/billing/", **LANGUAGE["en"]).content.decode()
    assert '1,234.50<span class="cur">USD</span></div>' in en


def test_a_negative_balance_keeps_its_sign_before_the_currency(client, postpaid):
    client.force_login(postpaid)
    zh = client.get("/billing/repay/bank-transfer/", **LANGUAGE["zh-hans"]).content.decode()
    assert '-<span class="cur cur-before">US$</span>201.55</div>' in zh
