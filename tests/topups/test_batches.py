"""Crediting stored deliveries in batches: the webhook stores, the worker credits, each payment once.

Notifications are Stripe's events signed with its scheme and posted to the webhook; the worker's
part is its task body (topups.batches.apply_deliveries), run here as the worker would, or from
several threads at once against PostgreSQL.
"""

import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from djmoney.money import Money

from accounts.ledger import credit_deposit
from accounts.models import Account, LedgerEntry, OutboundEmail
from accounts.verification import ledger_mismatches
from tests.concurrency.test_races import race
from tests.factories import PendingTopUpFactory, PrepaidAccountFactory, UserFactory
from tests.fakes.stripe import checkout_session, event, paid_session, post_webhook, signed
from tests.intake import apply_stored
from topups.batches import apply_deliveries
from topups.deliveries import retry_stale_deliveries
from topups.models import TopUp, WebhookDelivery

pytestmark = pytest.mark.django_db


def topups_over(accounts: int, count: int, *, seed: int = 7) -> list[TopUp]:
    """`count` pending Stripe top-ups of varied amounts spread over `accounts` prepaid accounts."""
    rng = random.Random(seed)
    owners = [UserFactory(email=f"payer{i}@example.com") for i in range(accounts)]
    return [
        PendingTopUpFactory(
            account=owner.account, created_by=owner, amount=Money(Decimal(rng.randint(100, 99_999)) / 100, "USD")
        )
        for owner in (owners[i % accounts] for i in range(count))
    ]


def post_all(client, payloads: list[dict]) -> None:
    for payload in payloads:
        assert post_webhook(client, *signed(payload)).json()["verdict"] in ("received", "credited", "already_credited")


def expected_balances(topups: list[TopUp]) -> dict[int, Decimal]:
    expected: Counter = Counter()
    for topup in topups:
        expected[topup.account_id] += topup.amount.amount
    return dict(expected)


def balances(account_ids) -> dict[int, Decimal]:
    return dict(Account.objects.filter(pk__in=account_ids).values_list("pk", "balance"))


def credits_per_source() -> Counter:
    return Counter(LedgerEntry.objects.filter(kind="online_topup").values_list("source_ref", flat=True))


def test_a_batch_across_accounts_credits_each_payment_once_with_its_receipt_and_history(client, stripe_settings):
    topups = topups_over(accounts=6, count=30)
    post_all(client, [event("checkout.session.completed", paid_session(topup)) for topup in topups])
    assert not LedgerEntry.objects.exists()  # stored, waiting for the worker

    assert apply_stored() == {"credited": 30}

    assert balances(expected_balances(topups)) == expected_balances(topups)
    assert set(credits_per_source().values()) == {1} and len(credits_per_source()) == 30
    assert set(TopUp.objects.values_list("status", flat=True)) == {"credited"}
    assert not TopUp.objects.filter(ledger_entry__isnull=True).exists()
    assert set(WebhookDelivery.objects.values_list("verdict", flat=True)) == {"credited"}
    assert OutboundEmail.objects.count() == 30  # one receipt per payment, to its payer
    receipt = OutboundEmail.objects.get(dedupe_key=f"topup-credited:{topups[0].public_id}")
    assert receipt.to == topups[0].created_by.email and topups[0].reference in receipt.subject
    history = TopUp.history.filter(id=topups[0].pk).order_by("-history_date").first()
    assert history.status == "credited"
    assert history.ledger_entry_id == TopUp.objects.get(pk=topups[0].pk).ledger_entry_id
    assert history.history_type == "~"
    tracked = [field.attname for field in TopUp.history.model.tracked_fields]
    row = TopUp.objects.get(pk=topups[0].pk)
    assert {name: getattr(history, name) for name in tracked} == {name: getattr(row, name) for name in tracked}
    assert TopUp.history.filter(status="credited").count() == 30
    assert ledger_mismatches() == []


def test_thirty_percent_duplicates_credit_each_payment_once(client, stripe_settings):
    topups = topups_over(accounts=5, count=40)
    distinct = [event("checkout.session.completed", paid_session(topup)) for topup in topups]
    rng = random.Random(3)
    # Both kinds a gateway sends: the same event again, and a second event for the same payment.
    again = [rng.choice(distinct) for _ in range(9)]
    second = [event("checkout.session.async_payment_succeeded", paid_session(t)) for t in rng.sample(topups, 9)]
    payloads = distinct + again + second
    rng.shuffle(payloads)
    post_all(client, payloads[:30])
    apply_stored()  # a worker runs while deliveries still arrive
    post_all(client, payloads[30:])
    apply_stored()

    assert balances(expected_balances(topups)) == expected_balances(topups)
    assert credits_per_source() == {topup.ledger_source_ref: 1 for topup in topups}
    verdicts = Counter(WebhookDelivery.objects.values_list("verdict", flat=True))
    assert verdicts == {"credited": 40, "already_credited": 9}
    assert sum(WebhookDelivery.objects.values_list("delivery_count", flat=True)) == len(payloads)
    assert OutboundEmail.objects.count() == 40
    assert ledger_mismatches() == []


def test_a_top_up_the_return_page_credited_meanwhile_is_answered_already_credited_in_the_batch(client, fake_stripe):
    topups = topups_over(accounts=3, count=6)
    post_all(client, [event("checkout.session.completed", paid_session(topup)) for topup in topups])
    early = topups[2]
    fake_stripe.add_session(checkout_session(topup=early))
    fake_stripe.pay(early.gateway_session_id)
    browser = Client()
    browser.force_login(early.created_by)
    assert b"Payment received" in browser.get(f"/billing/topups/{early.public_id}/").content  # credited there

    assert apply_stored() == {"credited": 5, "already_credited": 1}

    assert credits_per_source() == {topup.ledger_source_ref: 1 for topup in topups}
    assert balances(expected_balances(topups)) == expected_balances(topups)
    assert WebhookDelivery.objects.get(topup=early).verdict == "already_credited"
    assert OutboundEmail.objects.filter(dedupe_key=f"topup-credited:{early.public_id}").count() == 1


def test_a_source_the_ledger_already_holds_makes_the_batch_fall_back_and_each_credits_once(client, stripe_settings):
    """Where row locks are not real (SQLite), a credit can land without the top-up saying so; the
    batch's one posting is then refused as a whole and each delivery is applied alone."""
    topups = topups_over(accounts=3, count=8)
    post_all(client, [event("checkout.session.completed", paid_session(topup)) for topup in topups])
    landed = topups[5]
    credit_deposit(
        account_id=landed.account_id,
        amount=landed.credit_amount,
        kind=LedgerEntry.Kind.ONLINE_TOPUP,
        source_ref=landed.ledger_source_ref,
    )

    verdicts = apply_stored()

    assert verdicts == {"credited": 7, "already_credited": 1}
    assert credits_per_source() == {topup.ledger_source_ref: 1 for topup in topups}
    assert balances(expected_balances(topups)) == expected_balances(topups)
    assert WebhookDelivery.objects.get(event_id__isnull=False, topup=landed).verdict == "already_credited"
    assert ledger_mismatches() == []


def test_a_mismatched_amount_in_a_batch_is_flagged_while_the_others_credit(client, stripe_settings):
    topups = topups_over(accounts=4, count=10)
    odd = topups[4]
    payloads = [event("checkout.session.completed", paid_session(topup)) for topup in topups]
    payloads[4] = event("checkout.session.completed", paid_session(odd, amount_total=1))
    post_all(client, payloads)

    assert apply_stored() == {"credited": 9, "flagged": 1}

    odd.refresh_from_db()
    assert odd.status == TopUp.Status.PENDING and odd.needs_review and "amount" in odd.review_note
    assert not LedgerEntry.objects.filter(source_ref=odd.ledger_source_ref).exists()
    assert credits_per_source() == {t.ledger_source_ref: 1 for t in topups if t != odd}


def test_closes_and_late_news_in_one_batch_follow_the_same_rules_as_one_notice(client, stripe_settings):
    """Paid then expired: credited, the expiry ignored. Expired then paid: credited after the close."""
    first, second = topups_over(accounts=1, count=2)
    post_all(
        client,
        [
            event("checkout.session.completed", paid_session(first)),
            event("checkout.session.expired", checkout_session(topup=first)),
            event("checkout.session.expired", checkout_session(topup=second)),
            event("checkout.session.async_payment_succeeded", paid_session(second)),
        ],
    )
    assert apply_stored() == {"credited": 2, "ignored": 1, "closed": 1}
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == TopUp.Status.CREDITED
    assert "Credited after being expired" in second.review_note and second.closed_at is None


def test_a_delivery_that_waits_longer_than_a_minute_is_found_by_the_sweep(client, stripe_settings):
    (topup,) = topups_over(accounts=1, count=1)
    post_all(client, [event("checkout.session.completed", paid_session(topup))])
    assert retry_stale_deliveries(older_than_seconds=60) == 0  # just stored: its own task is on the way
    later = timezone.now() + timedelta(minutes=2)
    assert retry_stale_deliveries(older_than_seconds=60, now=later) == 1  # the task was lost
    apply_stored()
    assert credits_per_source() == {topup.ledger_source_ref: 1}
    assert retry_stale_deliveries(older_than_seconds=60, now=later) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_at_once_credit_each_payment_once_with_exact_balances(stripe_settings):
    topups = topups_over(accounts=10, count=120)
    client = Client()
    distinct = [event("checkout.session.completed", paid_session(topup)) for topup in topups]
    post_all(client, distinct + distinct[:36])  # 30% the same events again
    workers = race([lambda: apply_deliveries(batch_size=17)] * 2)  # small batches, so the two interleave

    assert not [w for w in workers if isinstance(w, Exception)], workers
    assert credits_per_source() == {topup.ledger_source_ref: 1 for topup in topups}
    assert balances(expected_balances(topups)) == expected_balances(topups)
    assert set(WebhookDelivery.objects.values_list("verdict", flat=True)) == {"credited"}
    assert ledger_mismatches() == []


def test_a_hot_account_takes_a_whole_batch(client, stripe_settings):
    account = PrepaidAccountFactory()
    payer = UserFactory(account=account, email="hot@example.com")
    topups = [PendingTopUpFactory(account=account, created_by=payer) for _ in range(25)]
    post_all(client, [event("checkout.session.completed", paid_session(topup)) for topup in topups])
    assert apply_stored() == {"credited": 25}
    account.refresh_from_db()
    assert account.balance == Money("2500.00", "USD")
    after = list(LedgerEntry.objects.filter(account=account).order_by("pk").values_list("balance_after", flat=True))
    assert after == [Decimal(100 * n) for n in range(1, 26)]  # each entry's balance after, in order
