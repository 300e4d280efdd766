"""The Enterprise page of a master and a member's Overview, through HTTP: allocate, reclaim,
budgets; once per submitted form; hostile input is a 4xx or a form error and writes nothing."""

import html
import re
import secrets
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from djmoney.money import Money

from accounts.budgets import flag_budget_overruns
from accounts.enterprise import allocate
from accounts.ledger import post_ledger_entry
from accounts.models import Account, FundMove, LedgerEntry
from accounts.verification import ledger_mismatches
from tests.factories import EnterpriseMemberAccountFactory, PrepaidAccountFactory, UserFactory
from tests.helpers import hidden_fields

pytestmark = pytest.mark.django_db


def usd(amount) -> Money:
    return Money(amount, "USD")


@pytest.fixture
def dave(client):
    master = PrepaidAccountFactory(name="Dave's Enterprise")
    post_ledger_entry(account_id=master.pk, amount=usd("1000.00"), kind="adjustment", source_ref="seed:dave")
    user = UserFactory(username="dave", first_name="Dave", email="dave@example.com", account=master)
    client.force_login(user)
    return user


@pytest.fixture
def carol(dave):
    member = EnterpriseMemberAccountFactory(name="Carol", enterprise_master=dave.account)
    return UserFactory(username="carol", first_name="Carol", email="carol@example.com", account=member)


@pytest.fixture
def outsider(db):
    """A member of another enterprise, with funds of its own."""
    other = EnterpriseMemberAccountFactory(name="Mallory's member")
    post_ledger_entry(account_id=other.pk, amount=usd("50.00"), kind="adjustment", source_ref="seed:outsider")
    return other


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def form_for(response, member, action: str) -> dict:
    """The allocate or reclaim form the page rendered for a member: what a browser sends back."""
    text = response.content.decode()
    url = f'action="/billing/enterprise/{action}/"'
    start = text.index(url, text.index(f'id="member-{member.pk}"'))
    return hidden_fields(type("R", (), {"content": text[start : text.index("</form>", start)].encode()}))


def post_move(client, action: str, member_id, amount, key=None):
    data = {"member": member_id, "amount": amount, "request_key": key or secrets.token_urlsafe(24)}
    return client.post(f"/billing/enterprise/{action}/", data)


def balance(account_id) -> Money:
    return Account.objects.get(pk=account_id).balance


def test_the_master_sees_its_members_and_the_nav_link(client, dave, carol):
    response = client.get("/billing/enterprise/")
    assert response.status_code == 200
    text = page_text(response)
    assert "Carol" in text
    assert "1,000.00" in text
    assert 'href="/billing/enterprise/"' in text  # the nav link
    assert 'href="/billing/enterprise/"' in page_text(client.get("/billing/"))


@pytest.mark.parametrize("who", ["prepaid", "member"])
def test_accounts_without_members_have_no_enterprise_page_and_no_link(client, dave, carol, who):
    user = UserFactory(username="alice") if who == "prepaid" else carol
    client.force_login(user)
    assert client.get("/billing/enterprise/").status_code == 404
    assert 'href="/billing/enterprise/"' not in page_text(client.get("/billing/"))
    assert post_move(client, "allocate", carol.account_id, "1.00").status_code == 404


def test_dave_allocates_and_reclaims_from_the_page(client, dave, carol):
    page = client.get("/billing/enterprise/")
    form = form_for(page, carol.account, "allocate")
    response = client.post("/billing/enterprise/allocate/", {**form, "amount": "300"})
    assert response.status_code == 303
    assert response["Location"] == f"/billing/enterprise/#member-{carol.account_id}"
    page = client.get(response["Location"])
    assert "Allocated 300.00 USD to Carol." in page_text(page)

    form = form_for(page, carol.account, "reclaim")
    assert client.post("/billing/enterprise/reclaim/", {**form, "amount": "100.00"}).status_code == 303
    assert balance(carol.account_id) == usd("200.00")
    assert balance(dave.account_id) == usd("800.00")
    text = page_text(client.get("/billing/enterprise/"))
    assert "Reclaimed 100.00 USD from Carol." in text
    moves = text[text.index("Recent allocations and reclaims") :]
    assert "Allocated to Carol" in moves
    assert "Reclaimed from Carol" in moves
    # Signed as the master's statement signs them: an allocation left dave's funds, a reclaim came back
    assert moves.index("-300.00 USD") > moves.index("Allocated to Carol") > moves.index("+100.00 USD")


def test_a_form_sent_twice_allocates_once(client, dave, carol):
    form = form_for(client.get("/billing/enterprise/"), carol.account, "allocate")
    first = client.post("/billing/enterprise/allocate/", {**form, "amount": "300.00"})
    second = client.post("/billing/enterprise/allocate/", {**form, "amount": "300.00"}, follow=True)
    assert first.status_code == 303
    assert "Already done: allocated 300.00 USD to Carol." in page_text(second)
    assert FundMove.objects.count() == 1
    assert balance(carol.account_id) == usd("300.00")


def test_a_postpaid_master_stored_before_the_rule_moves_no_funds(client, dave, carol):
    """An enterprise master is prepaid (accounts.lifecycle); one stored postpaid before that rule cannot hand its
    repayment credit to a member and keep it for its bills too (found by a helper)."""
    Account.objects.filter(pk=dave.account_id).update(type=Account.Type.POSTPAID)
    form = form_for(client.get("/billing/enterprise/"), carol.account, "allocate")
    refused = client.post("/billing/enterprise/allocate/", {**form, "amount": "300.00"})
    assert refused.status_code == 403 and "is not prepaid: its funds cannot move to members" in page_text(refused)
    assert FundMove.objects.count() == 0 and balance(carol.account_id) == usd("0.00")


def test_every_rendering_hands_out_new_keys(client, dave, carol):
    first = form_for(client.get("/billing/enterprise/"), carol.account, "allocate")["request_key"]
    second = form_for(client.get("/billing/enterprise/"), carol.account, "allocate")["request_key"]
    refused = post_move(client, "allocate", carol.account_id, "5000.00", key=first)
    assert refused.status_code == 409
    assert len({first, second, form_for(refused, carol.account, "allocate")["request_key"]}) == 3


def test_more_than_the_master_has_is_refused_on_the_form(client, dave, carol):
    response = post_move(client, "allocate", carol.account_id, "1000.01")
    assert response.status_code == 409
    assert "Dave's Enterprise has 1,000.00 USD available: you cannot allocate 1,000.01 USD." in page_text(response)
    assert FundMove.objects.count() == 0


def test_more_than_the_member_has_is_refused_on_the_form(client, dave, carol):
    post_move(client, "allocate", carol.account_id, "20.00")
    response = post_move(client, "reclaim", carol.account_id, "20.01")
    assert response.status_code == 409
    assert "Carol has 20.00 USD left: you cannot reclaim 20.01 USD." in page_text(response)
    page = response.content.decode()  # under the Reclaim form, not between Allocate's field and it
    assert page.index("Reclaim unspent funds from") < page.index("you cannot reclaim 20.01 USD")


def test_the_master_sets_a_budget_and_an_over_budget_member_is_flagged(client, dave, carol):
    post_move(client, "allocate", carol.account_id, "100.00")
    response = client.post(
        "/billing/enterprise/member-settings/", {"member": carol.account_id, "budget": "25", "alert_copy": "on"}
    )
    assert response.status_code == 303
    member = Account.objects.get(pk=carol.account_id)
    assert member.monthly_budget == Decimal("25.00")
    assert member.alert_copy_to_master
    post_ledger_entry(account_id=member.pk, amount=usd("-30.00"), kind="usage", source_ref="charge:1")

    assert 'data-testid="over-budget"' in client.get("/billing/enterprise/").content.decode()  # at once
    assert flag_budget_overruns() == 1  # the sweep marks her for the Overview
    overview = page_text(client.get("/billing/"))
    assert "One member account has spent more than its monthly budget this month." in overview

    client.post("/billing/enterprise/member-settings/", {"member": carol.account_id, "budget": ""})
    member.refresh_from_db()
    assert member.monthly_budget is None
    assert not member.alert_copy_to_master
    assert "monthly budget this month" not in page_text(client.get("/billing/"))


def test_carol_sees_her_funds_who_funds_her_and_how_to_ask(client, dave, carol):
    allocate(
        master_id=dave.account_id,
        member_id=carol.account_id,
        amount=usd("300.00"),
        actor=dave,
        request_key="form-key-0001",
    )
    post_ledger_entry(account_id=carol.account_id, amount=usd("-12.50"), kind="usage", source_ref="charge:1")
    client.force_login(carol)
    text = page_text(client.get("/billing/"))
    assert re.search(r'data-testid="member-available">287.50 USD<', client.get("/billing/").content.decode())
    assert "Your funds from Dave's Enterprise" in text
    assert "ask an administrator of Dave's Enterprise" in text
    assert "mailto:dave@example.com" in text
    assert "Allocated to you" in text
    assert "+300.00 USD" in text
    assert "12.50 USD" in text  # spent this month
    assert 'id="alert"' in text  # her expenditure alert works on her funds
    pay = client.get("/billing/pay/")
    assert "funded by its enterprise master account, Dave's Enterprise" in page_text(pay)
    assert client.post("/billing/pay/", {"amount": "10.00"}).status_code == 403


def test_carol_sends_her_alerts_to_the_master_too(client, dave, carol):
    client.force_login(carol)
    response = client.post("/billing/funds/alert-copy/", {"alert_copy": "on"})
    assert response.status_code == 303
    assert Account.objects.get(pk=carol.account_id).alert_copy_to_master
    client.post("/billing/funds/alert-copy/", {})
    assert not Account.objects.get(pk=carol.account_id).alert_copy_to_master
    client.force_login(UserFactory(username="alice"))
    assert client.post("/billing/funds/alert-copy/", {"alert_copy": "on"}).status_code == 404


def test_carol_can_save_an_expenditure_alert(client, dave, carol):
    client.force_login(carol)
    response = client.post("/billing/alert/", {"action": "save", "enabled": "on", "threshold": "50.00"})
    assert response.status_code == 303
    assert Account.objects.get(pk=carol.account_id).alert_enabled


def test_the_pages_cost_the_same_few_queries_with_more_members_and_moves(client, dave, carol):
    """The Enterprise page, the master's Overview and the member's: at most 8 queries, never more with more rows."""
    pages = {
        "enterprise": (dave, "/billing/enterprise/"),
        "master": (dave, "/billing/"),
        "member": (carol, "/billing/"),
    }
    counts, made = [], 0
    for size in (2, 12):
        for i in range(made, size):
            member = EnterpriseMemberAccountFactory(name=f"Member {i:02d}", enterprise_master=dave.account)
            for who in (member, carol.account):
                allocate(
                    master_id=dave.account_id,
                    member_id=who.pk,
                    amount=usd("1.00"),
                    actor=dave,
                    request_key=f"key-{who.pk}-{i:04d}",
                )
            post_ledger_entry(account_id=carol.account_id, amount=usd("-0.10"), kind="usage", source_ref=f"u:{i}")
        made = size
        counts.append({})
        for page, (user, url) in pages.items():
            client.force_login(user)
            client.get(url)
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            counts[-1][page] = len(queries.captured_queries)
    assert counts[1] == counts[0], counts
    assert max(counts[0].values()) <= 8, counts


# --- Hostile input: every new form and URL ---------------------------------------------------


def snapshot() -> dict:
    return {
        "balances": dict(Account.objects.values_list("pk", "balance")),
        "budgets": dict(Account.objects.values_list("pk", "monthly_budget")),
        "entries": LedgerEntry.objects.count(),
        "moves": FundMove.objects.count(),
    }


@pytest.fixture
def nothing_written(dave, carol, outsider):
    before = snapshot()
    yield
    after = snapshot()
    for rows in ("balances", "budgets"):  # accounts a case made itself start empty and are left out
        after[rows] = {pk: value for pk, value in after[rows].items() if pk in before[rows]}
    assert after == before, "a hostile request wrote something"
    assert ledger_mismatches() == []


AMOUNTS = [
    ("", "This field is required"),
    ("0", "greater than zero"),
    ("0.00", "greater than zero"),
    ("-5", "must be positive"),
    ("1e3", "Enter the amount in digits"),
    ("NaN", "Enter the amount in digits"),
    ("１００", "Type the amount in half-width digits (0–9)"),
    ("١٢", "Enter the amount in digits"),
    ("1,000", "Use a dot for decimals"),
    ("0.001", "at most 2 decimals"),
    ("+50", "Enter the amount in digits"),
    ("$100", "Enter the amount in digits"),
    ("9" * 40, "at most 20 characters"),
    ("1234567890123", "The amount is too large."),
    ("<b>1</b>", "Enter the amount in digits"),
]


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("action", ["allocate", "reclaim"])
@pytest.mark.parametrize("amount, message", AMOUNTS, ids=[f"amount-{i}" for i in range(len(AMOUNTS))])
def test_a_hostile_amount_is_a_form_error(client, carol, action, amount, message):
    response = post_move(client, action, carol.account_id, amount)
    assert response.status_code == 400
    assert message in page_text(response)


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("action", ["allocate", "reclaim"])
def test_a_huge_amount_is_refused(client, carol, action):
    response = post_move(client, action, carol.account_id, "999999999999.99")
    assert response.status_code == 409
    assert "you cannot" in page_text(response)


MEMBER_IDS = ["", "abc", "-1", "0", "1.5", "１", "9" * 40, str(2**63), str(2**63 - 1), "1 OR 1=1"]


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("budget", ["0", "0.00", "00"])
def test_a_budget_of_zero_is_refused_with_what_to_do_instead(client, carol, budget):
    """0 had been saved, and flagged the member over budget at once: most likely a slip for 'none'."""
    response = client.post("/billing/enterprise/member-settings/", {"member": carol.account_id, "budget": budget})
    assert response.status_code == 400
    assert "A budget must be more than zero; leave it empty for no budget." in page_text(response)


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("path", ["allocate", "reclaim", "member-settings"])
@pytest.mark.parametrize("member", ["outsider", "master", "prepaid", *MEMBER_IDS])
def test_a_member_that_is_not_the_masters_is_a_404(client, dave, outsider, path, member):
    named = {
        "outsider": lambda: outsider.pk,
        "master": lambda: dave.account_id,
        "prepaid": lambda: PrepaidAccountFactory().pk,
    }
    member_id = named[member]() if member in named else member
    response = client.post(
        f"/billing/enterprise/{path}/",
        {"member": member_id, "amount": "10.00", "budget": "10", "request_key": secrets.token_urlsafe(24)},
    )
    assert response.status_code == 404
    assert "Mallory" not in page_text(response)


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("key", ["", "short", "x" * 65, "key with spaces", "ключ-ключ-ключ", "<script>x</script>"])
def test_a_missing_or_forged_form_key_writes_nothing(client, carol, key):
    response = client.post(
        "/billing/enterprise/allocate/", {"member": carol.account_id, "amount": "10.00", "request_key": key}
    )
    assert response.status_code == 400
    assert "out of date" in page_text(response)


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("budget", ["-5", "1e3", "１００", "abc", "9" * 40, "0.001"])
def test_a_hostile_budget_is_a_form_error(client, carol, budget):
    response = client.post("/billing/enterprise/member-settings/", {"member": carol.account_id, "budget": budget})
    assert response.status_code == 400


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize("path", ["allocate", "reclaim", "member-settings"])
def test_the_forms_take_only_posts(client, carol, path):
    assert client.get(f"/billing/enterprise/{path}/", {"member": carol.account_id, "amount": "1"}).status_code == 405


@pytest.mark.usefixtures("nothing_written")
def test_a_member_cannot_allocate_from_her_master(client, dave, carol):
    client.force_login(carol)
    assert post_move(client, "allocate", carol.account_id, "10.00").status_code == 404
    assert post_move(client, "reclaim", carol.account_id, "10.00").status_code == 404
