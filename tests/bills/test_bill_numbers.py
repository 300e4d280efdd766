"""Bill numbers are guessable (BL-<month>-<account id>): every number that is not bob's, and bob's own
written another way, is not found on the bill page and its PDF, never a 500; the list's ?page= too."""

import pytest

from tests.bills.conftest import NOVEMBER, OCTOBER, at, charge, close
from tests.factories import PostpaidAccountFactory
from tests.test_hostile_input import NUMBER_SPELLINGS

pytestmark = pytest.mark.django_db
SUFFIXES = ["", "bill.pdf"]


@pytest.fixture
def neighbours(client, bob):
    """Postpaid accounts made on either side of bob's, each billed for October and November."""
    before = [PostpaidAccountFactory(name=f"Mallory {i}") for i in range(2)]
    account = PostpaidAccountFactory(name="Bob's second shop")  # bob's bills are on this one
    bob.account = account
    bob.save(update_fields=["account"])
    after = [PostpaidAccountFactory(name=f"Mallory {i}") for i in range(2, 4)]
    bills = {}
    for owner in [*before, account, *after]:
        for month, period in ((10, OCTOBER), (11, NOVEMBER)):
            charge(owner, "5.00", at(2026, month, 3), f"{owner.pk}:{month}")
            bills[owner.pk, month] = close(owner, period)
    client.force_login(bob)
    return account, bills


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_guessing_the_numbers_around_bobs_finds_only_his(client, neighbours, suffix):
    account, bills = neighbours
    for offset in range(-3, 4):  # the accounts either side, and ids nobody has
        for month in ("2026-09", "2026-10", "2026-11", "2026-12"):
            number = f"BL-{month}-{account.pk + offset:06d}"
            mine = offset == 0 and month in ("2026-10", "2026-11")
            response = client.get(f"/billing/bills/{number}/{suffix}")
            assert response.status_code == (200 if mine else 404), number
            assert b"Mallory" not in response.content
    assert len(bills) == 10


@pytest.fixture
def bobs_bill(client, bob):
    charge(bob.account, "5.00", at(2026, 11, 3), "nov")
    client.force_login(bob)
    return close(bob.account, NOVEMBER)


@pytest.mark.parametrize("spell, status", NUMBER_SPELLINGS)  # the ticket number's table, B for BL
def test_bobs_bill_number_spelled_otherwise_is_not_found(client, bobs_bill, spell, status):
    for suffix in SUFFIXES:
        assert client.get(f"/billing/bills/{bobs_bill.number}/{suffix}").status_code == 200
        assert client.get(f"/billing/bills/{spell(bobs_bill.number)}/{suffix}").status_code == status, suffix


@pytest.mark.parametrize("page_number", ["0", "-1", "abc", "9" * 40, "1e3", "１", "%00", "2"])
def test_a_hostile_page_number_on_the_bills_list_shows_a_page(client, bobs_bill, page_number):
    response = client.get(f"/billing/bills/?page={page_number}")
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert bobs_bill.number in response.content.decode()  # the last page there is: bob's one bill
