"""Real races on PostgreSQL: threads released together by a barrier, each with its own connection."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from djmoney.money import Money

from accounts.models import LedgerEntry
from accounts.verification import ledger_mismatches
from tests.factories import PendingTopUpFactory, UserFactory
from tests.fakes.stripe import checkout_session, event, paid_session, post_webhook, signed
from tests.intake import apply_stored
from topups.models import TopUp, WebhookDelivery
from topups.reconcile import reconcile_topup

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(callables):
    """Run each callable in its own thread, all released at once; return results or exceptions."""
    barrier = threading.Barrier(len(callables))
    results = [None] * len(callables)

    def run(i, fn):
        try:
            barrier.wait()
            results[i] = fn()
        except Exception as exc:  # returned to the test, which asserts on it
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(callables)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_fifty_concurrent_deliveries_of_one_signed_event_credit_once_and_all_answer_2xx(fake_stripe):
    topup = PendingTopUpFactory(amount=Money("100.00", "USD"))
    body, signature = signed(event("checkout.session.completed", paid_session(topup)))

    responses = race([lambda: post_webhook(Client(), body, signature)] * 50)
    workers = race([apply_stored] * 4)  # four workers at once over what was stored

    assert [getattr(r, "status_code", r) for r in responses] == [200] * 50
    assert not [w for w in workers if isinstance(w, Exception)], workers
    assert LedgerEntry.objects.count() == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.delivery_count == 50 and delivery.verdict == "credited"
    topup.account.refresh_from_db()
    assert topup.account.balance == Money("100.00", "USD")
    assert ledger_mismatches() == []


def test_every_path_that_can_credit_one_payment_raced_together_credits_once(fake_stripe):
    """completed + async_payment_succeeded webhooks, the return page and the reconciler, twice each."""
    user = UserFactory()
    topup = PendingTopUpFactory(account=user.account, created_by=user, amount=Money("42.50", "USD"))
    fake_stripe.add_session(checkout_session(topup=topup))
    fake_stripe.pay(topup.gateway_session_id)
    completed = signed(event("checkout.session.completed", paid_session(topup)))
    succeeded = signed(event("checkout.session.async_payment_succeeded", paid_session(topup)))

    def return_page():
        browser = Client()
        browser.force_login(user)
        return browser.get(f"/billing/topups/{topup.public_id}/")

    paths = [
        lambda: post_webhook(Client(), *completed),
        lambda: post_webhook(Client(), *succeeded),
        return_page,
        lambda: reconcile_topup(topup_id=topup.pk),
        apply_stored,  # the worker, crediting what the webhooks stored
    ] * 2
    results = race(paths)
    apply_stored()  # what was stored after the racing workers had looked

    assert not [r for r in results if isinstance(r, Exception)], results
    assert [r.status_code for r in results if hasattr(r, "status_code")] == [200] * 6
    assert LedgerEntry.objects.filter(source_ref=f"topup:{topup.public_id}").count() == 1
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    topup.account.refresh_from_db()
    assert topup.account.balance == Money("42.50", "USD")


def test_out_of_order_events_raced_against_the_credit_never_regress_it(fake_stripe):
    topup = PendingTopUpFactory()
    paid = signed(event("checkout.session.completed", paid_session(topup)))
    expired = signed(event("checkout.session.expired", checkout_session(topup=topup, status="expired")))
    failed = signed(event("checkout.session.async_payment_failed", checkout_session(topup=topup)))
    race(
        [lambda: post_webhook(Client(), *paid)]
        + [lambda: post_webhook(Client(), *expired)] * 3
        + [lambda: post_webhook(Client(), *failed)] * 3
        + [apply_stored] * 3
    )
    apply_stored()
    topup.refresh_from_db()
    # Either the credit won, or a close came first and the verified payment still credited after it.
    assert topup.status == TopUp.Status.CREDITED
    assert LedgerEntry.objects.count() == 1


def test_concurrent_starts_cannot_pass_the_daily_limit_together(settings):
    """Double clicks and parallel tabs: the account lock makes the cap hold."""
    settings.TOPUP_LIMITS = {**settings.TOPUP_LIMITS, "USD": (Decimal(10), Decimal(50000), Decimal("1000.00"))}
    user = UserFactory()

    def start():
        browser = Client()
        browser.force_login(user)
        return browser.post("/billing/pay/", {"amount": "300.00"})

    codes = sorted(r.status_code for r in race([start] * 8))
    assert codes == [303, 303, 303] + [400] * 5
    assert TopUp.objects.count() == 3
    assert sum(t.amount.amount for t in TopUp.objects.all()) == Decimal("900.00")
