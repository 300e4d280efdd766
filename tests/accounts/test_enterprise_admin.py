"""Finance sees every allocation and reclaim in admin, with who made it; nobody edits them there."""

import pytest
from django.core.management import call_command

from accounts.models import Account, FundMove, User
from tests.helpers import staff_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    settings.DEMO = True
    call_command("seed_demo")


def test_finance_reads_the_fund_moves_with_their_actor(client, seeded):
    staff_login(client, User.objects.get(username="finance"))
    listing = client.get("/admin/accounts/fundmove/")
    assert listing.status_code == 200
    text = listing.content.decode()
    assert "Carol (Dave&#x27;s Enterprise)" in text
    assert "Reclaim" in text
    assert "dave" in text
    move = FundMove.objects.filter(direction="reclaim").get()
    detail = client.get(f"/admin/accounts/fundmove/{move.pk}/change/")
    assert detail.status_code == 200
    assert move.debit_entry.source_ref in detail.content.decode()


def test_fund_moves_cannot_be_added_changed_or_deleted_in_admin(client, seeded):
    staff_login(client, User.objects.get(username="admin"))
    move = FundMove.objects.first()
    assert client.get("/admin/accounts/fundmove/add/").status_code == 403
    assert client.post(f"/admin/accounts/fundmove/{move.pk}/change/", {"direction": "reclaim"}).status_code == 403
    assert client.post(f"/admin/accounts/fundmove/{move.pk}/delete/", {"post": "yes"}).status_code == 403
    assert FundMove.objects.filter(pk=move.pk, direction=move.direction).exists()


def test_a_budget_change_is_in_the_members_history_with_who_made_it(client, seeded):
    dave = User.objects.get(username="dave")
    carol = Account.objects.get(name="Carol (Dave's Enterprise)")
    client.force_login(dave)
    client.post("/billing/enterprise/member-settings/", {"member": carol.pk, "budget": "75"})
    staff_login(client, User.objects.get(username="admin"))
    history = client.get(f"/admin/accounts/account/{carol.pk}/history/")
    assert history.status_code == 200
    assert carol.history.latest().history_user == dave
    assert "dave" in history.content.decode()
