"""Opening accounts and changing their type go through accounts.lifecycle; admin shows the type read-only."""

import pytest
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.lifecycle import change_account_type, open_account
from accounts.models import Account
from money.errors import Invalid, Refused
from tests.factories import (
    EnterpriseMemberAccountFactory,
    PendingTopUpFactory,
    PostpaidAccountFactory,
    PrepaidAccountFactory,
)

pytestmark = pytest.mark.django_db


def test_an_account_opens_at_zero_in_its_billing_currency():
    account = open_account(name="  Acme  ", kind=Account.Type.PREPAID, billing_currency="CNY")
    assert account.name == "Acme"
    assert account.balance == Money("0.00", "CNY")


@pytest.mark.parametrize(
    "kind, master, currency",
    [
        (Account.Type.ENTERPRISE_MEMBER, None, "USD"),  # a member needs a master
        (Account.Type.PREPAID, "master", "USD"),  # only members have one
        (Account.Type.ENTERPRISE_MEMBER, "master", "CNY"),  # the master bills in another currency
        ("reseller", None, "USD"),
        (Account.Type.PREPAID, None, "XXX"),
    ],
)
def test_opening_an_inconsistent_account_is_refused(kind, master, currency):
    owner = PrepaidAccountFactory(balance=Money(0, "USD"))
    with pytest.raises(Invalid):
        open_account(
            name="New", kind=kind, billing_currency=currency, enterprise_master_id=owner.pk if master else None
        )
    assert Account.objects.count() == 1


def test_the_type_changes_only_at_a_zero_balance():
    account = PrepaidAccountFactory()
    post_ledger_entry(account_id=account.pk, amount=Money("5.00", "USD"), kind="adjustment", source_ref="seed")
    with pytest.raises(Refused, match="balance"):
        change_account_type(account_id=account.pk, kind=Account.Type.POSTPAID)
    assert Account.objects.get(pk=account.pk).type == Account.Type.PREPAID


def test_the_type_does_not_change_while_a_top_up_is_open():
    topup = PendingTopUpFactory()
    with pytest.raises(Refused, match="in progress"):
        change_account_type(account_id=topup.account_id, kind=Account.Type.POSTPAID)
    assert Account.objects.get(pk=topup.account_id).type == Account.Type.PREPAID


def test_a_settled_account_becomes_a_member_of_a_master():
    master, account = PrepaidAccountFactory(), PrepaidAccountFactory()
    changed = change_account_type(
        account_id=account.pk, kind=Account.Type.ENTERPRISE_MEMBER, enterprise_master_id=master.pk
    )
    assert changed.type == Account.Type.ENTERPRISE_MEMBER
    assert changed.enterprise_master_id == master.pk
    another = PrepaidAccountFactory()
    with pytest.raises(Refused, match="master of other accounts"):
        change_account_type(account_id=master.pk, kind=Account.Type.ENTERPRISE_MEMBER, enterprise_master_id=another.pk)
    with pytest.raises(Invalid, match="not a member"):
        change_account_type(account_id=another.pk, kind=Account.Type.ENTERPRISE_MEMBER, enterprise_master_id=changed.pk)


def test_admin_shows_the_type_read_only_and_a_post_cannot_change_it(admin_client):
    account = PrepaidAccountFactory(name="Acme")
    url = f"/admin/accounts/account/{account.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'name="type"' not in page
    response = admin_client.post(url, {"name": "Acme Ltd", "type": "postpaid"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.type) == ("Acme Ltd", Account.Type.PREPAID)


def test_admin_opens_an_account_through_the_service_and_shows_a_refusal_on_the_form(admin_client):
    refused = admin_client.post(
        "/admin/accounts/account/add/", {"name": "Member", "type": "enterprise_member", "billing_currency": "USD"}
    )
    assert refused.status_code == 400
    assert not Account.objects.filter(name="Member").exists()
    opened = admin_client.post(
        "/admin/accounts/account/add/", {"name": "Solo", "type": "prepaid", "billing_currency": "CNY"}
    )
    assert opened.status_code == 302
    assert Account.objects.get(name="Solo").balance == Money("0.00", "CNY")


def test_an_enterprise_master_is_prepaid_when_opened_and_stays_so(admin_client):
    """A postpaid master's advance repayment was its balance and its credit for bills at once: allocated to a member,
    it also paid the master's next bill, and the master's debt was billed nowhere (found by a helper)."""
    postpaid = PostpaidAccountFactory(name="Postpaid Ltd")
    with pytest.raises(Invalid, match="must be a prepaid account"):
        open_account(
            name="M", kind=Account.Type.ENTERPRISE_MEMBER, billing_currency="USD", enterprise_master_id=postpaid.pk
        )
    form = {"name": "Member", "type": "enterprise_member", "enterprise_master": postpaid.pk, "billing_currency": "USD"}
    refused = admin_client.post("/admin/accounts/account/add/", form)
    assert refused.status_code == 400 and "must be a prepaid account" in refused.content.decode()
    master = EnterpriseMemberAccountFactory().enterprise_master
    other = PrepaidAccountFactory()
    for kind in (Account.Type.POSTPAID, Account.Type.ENTERPRISE_MEMBER):
        with pytest.raises(Refused, match="master of other accounts"):
            change_account_type(
                account_id=master.pk, kind=kind, enterprise_master_id=other.pk if "member" in kind else None
            )
    assert Account.objects.get(pk=master.pk).type == Account.Type.PREPAID
