"""The charge API's errors: `message` in the caller's Accept-Language, `code` the same in both."""

import re

import pytest

from tests.accounts.test_usage_api import account, charge, post, token  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "-1"},
        {"amount": "1e3"},
        {"currency": "XXX"},
        {"currency": "EUR"},
        {"account": 999999},
        {"idempotency_key": ""},
        {"description": "x" * 301},
    ],
)
def test_an_api_error_is_worded_in_the_callers_language_and_keeps_its_code(client, token, account, change):  # noqa: F811
    body = {**charge(account), **change}
    english = post(client, token, "/api/v1/charges", body, HTTP_ACCEPT_LANGUAGE="en").json()["error"]
    chinese = post(client, token, "/api/v1/charges", body, HTTP_ACCEPT_LANGUAGE="zh-hans").json()["error"]
    assert chinese["code"] == english["code"]
    assert not CJK.search(english["message"]), english
    assert CJK.search(chinese["message"]) and chinese["message"] != english["message"], chinese
