"""A receiving account's name, as finance picks one in a list filter or reads it on a ticket: two
accounts of one bank and currency whose numbers end in the same four digits are told apart by their
region, and retired ones by the day they were retired, in English and Chinese."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone, translation

from tickets.models import ReceivingAccount

pytestmark = pytest.mark.django_db


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
