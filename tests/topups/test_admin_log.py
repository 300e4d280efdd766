"""Finance's actions on payments in Django admin's own audit trail (billing_center.admin_log): a refund on the refund's
and its top-up's History, a refund asked of the gateway again, a pending top-up asked about, a flag cleared; each on
the clerk's Recent actions; a refused refund and a double click leave nothing more."""

import pytest
from django.contrib.admin.models import LogEntry
from djmoney.money import Money

from accounts.models import User
from tests.factories import PendingTopUpFactory
from tests.fakes.stripe import paid_session
from tests.helpers import admin_history, recent_actions, staff_login
from tests.tickets.conftest import checker  # noqa: F401 (a fixture: a second finance clerk)
from tests.topups.test_refunds_and_disputes import credited, refund_form  # noqa: F401 (a fixture)
from tests.topups.test_review_flags import review
from topups.models import Refund, TopUp
from topups.refunds import request_refund

pytestmark = pytest.mark.django_db
TOPUPS = "/admin/topups/topup/"


def test_a_refund_is_on_the_refunds_and_the_top_ups_history_once(client, credited, clerk, fake_stripe):  # noqa: F811
    staff_login(client, clerk)
    form = refund_form(client, credited)
    assert client.post(TOPUPS, {**form, "amount": "100.01", "reason": "Asked"}).status_code == 400  # refused
    assert not LogEntry.objects.exists()
    done = {**form, "amount": "40.00", "reason": "Asked by phone"}
    assert client.post(TOPUPS, done).status_code == 302
    assert client.post(TOPUPS, done).status_code == 302  # a double click: the same refund
    refund = Refund.objects.get()
    said = f"Refunded 40.00 USD ({refund.reference}): Asked by phone"
    assert admin_history(client, f"/admin/topups/refund/{refund.pk}/history/") == [("fiona", said)]
    assert admin_history(client, f"{TOPUPS}{credited.pk}/history/") == [("fiona", said)]
    assert recent_actions(client) == [f"{credited.reference} Top-up {said}", f"{refund.reference} Refund {said}"]
    assert LogEntry.objects.get(content_type__model="refund").is_addition()


def test_a_refund_asked_of_the_gateway_again_says_what_it_answered(client, credited, clerk, fake_stripe):  # noqa: F811
    fake_stripe.down = True
    with pytest.raises(Exception, match="Stripe"):
        request_refund(topup_id=credited.pk, amount=Money("10.00", "USD"), reason="Asked", actor=clerk)
    stuck = Refund.objects.get()
    staff_login(client, clerk)
    client.post("/admin/topups/refund/", {"action": "send_again", "_selected_action": [stuck.pk]})  # still away
    fake_stripe.down = False
    client.post("/admin/topups/refund/", {"action": "send_again", "_selected_action": [stuck.pk]})
    client.post("/admin/topups/refund/", {"action": "send_again", "_selected_action": [stuck.pk]})  # answered already
    history = admin_history(client, f"/admin/topups/refund/{stuck.pk}/history/")
    assert history == [("fiona", "Asked the gateway again: refunded")]


def test_a_pending_top_up_asked_about_and_credited_says_so(client, clerk, fake_stripe):
    topup = PendingTopUpFactory(amount=Money("60.00", "USD"))
    waiting = PendingTopUpFactory(account=topup.account, created_by=topup.created_by)
    fake_stripe.add_session(paid_session(topup))
    staff_login(client, clerk)
    client.post(TOPUPS, {"action": "reconcile_with_gateway", "_selected_action": [topup.pk, waiting.pk]})
    assert TopUp.objects.get(pk=topup.pk).status == TopUp.Status.CREDITED
    assert admin_history(client, f"{TOPUPS}{topup.pk}/history/") == [
        ("fiona", "Asked the gateway: paid; 60.00 USD credited")
    ]
    assert admin_history(client, f"{TOPUPS}{waiting.pk}/history/") == []  # asked, and still waiting: nothing changed


def test_a_flag_cleared_is_in_djangos_own_words_in_each_readers_language(client, clerk, checker):  # noqa: F811
    topup = PendingTopUpFactory(needs_review=True, review_note="2026-11-20 09:14 paid 95.00 USD for 100.00 USD")
    staff_login(client, clerk)
    review(client, TOPUPS, [topup.pk])
    assert admin_history(client, f"{TOPUPS}{topup.pk}/history/") == [("fiona", "Changed needs review.")]
    assert recent_actions(client) == [f"{topup.reference} Top-up Changed needs review."]
    User.objects.filter(pk=checker.pk).update(language="zh-hans")
    staff_login(client, checker)
    [(who, what)] = admin_history(client, f"{TOPUPS}{topup.pk}/history/")
    assert who == "fiona" and "needs review" not in what and what.startswith("已修改")
