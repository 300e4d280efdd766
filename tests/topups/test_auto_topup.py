"""Auto top-up: a saved card charged once per crossing below the threshold, within ceilings,
paused after three failures in a row; driven through the pages and the sandbox gateway."""

import pytest
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.models import Account, AlertRecipient, OutboundEmail, OutboundSms
from accounts.verification import ledger_mismatches
from tests.factories import UserFactory
from tests.fakes.stripe import event, post_webhook, signed
from tests.intake import apply_stored, delivered
from tests.topups.conftest import card_on_file
from topups.auto_topup import run_auto_topup, sweep_auto_topups
from topups.models import AutoTopUp, SandboxCheckout, TopUp

pytestmark = pytest.mark.django_db
SETTINGS = {"threshold": "50.00", "amount": "100.00", "daily_ceiling": "300.00", "monthly_ceiling": "1000.00"}


@pytest.fixture
def alice(client):
    user = UserFactory(username="alice", email="alice@example.com")
    post_ledger_entry(account_id=user.account_id, amount=Money("80.00", "USD"), kind="adjustment", source_ref="seed")
    AlertRecipient.objects.create(
        account=user.account, kind="sms", address="+8613800138000", confirmed_at="2026-01-01T00:00Z"
    )
    client.force_login(user)
    return user


def save_card(client, *, declines: bool = False) -> AutoTopUp:
    """The customer's path: Save a card → the sandbox's page → back, where the card shows."""
    response = client.post("/billing/pay/auto/", {"action": "save_card"})
    assert response.status_code == 303
    session_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    gateway = client.post(response["Location"], {"outcome": "save_declining" if declines else "save"})
    assert gateway.status_code == 302 and "card=saved" in gateway["Location"]
    page = client.get("/billing/pay/auto/?card=saved")
    assert "Visa •••• " in page.content.decode()
    assert SandboxCheckout.objects.get(session_id=session_id).mode == SandboxCheckout.Mode.SETUP
    return AutoTopUp.objects.get()


def turn_on(client, **overrides):
    return client.post("/billing/pay/auto/", {"action": "settings", "enabled": "on", **SETTINGS, **overrides})


def spend(account, amount: str, ref: str):
    post_ledger_entry(account_id=account.pk, amount=Money(f"-{amount}", "USD"), kind="usage", source_ref=ref)


def balance(account) -> Money:
    return Account.objects.get(pk=account.pk).balance


def test_a_crossing_tops_up_once_and_the_next_crossing_again(client, alice, django_capture_on_commit_callbacks):
    save_card(client)
    assert turn_on(client).status_code == 303
    account = alice.account
    spend(account, "20.00", "u1")  # 60: above the threshold
    assert run_auto_topup(account_id=account.pk) is None
    spend(account, "20.00", "u2")  # 40: crossed
    topup = run_auto_topup(account_id=account.pk)
    assert topup.status == TopUp.Status.CREDITED and topup.is_automatic
    assert run_auto_topup(account_id=account.pk) is None  # the same crossing again: nothing
    assert balance(account) == Money("140.00", "USD")
    spend(account, "100.00", "u3")  # 40: the second crossing
    assert run_auto_topup(account_id=account.pk).status == TopUp.Status.CREDITED
    assert TopUp.objects.filter(is_automatic=True).count() == 2
    assert balance(account) == Money("140.00", "USD")
    assert ledger_mismatches() == []


def test_turning_it_on_below_the_threshold_tops_up_at_once(client, alice):
    save_card(client)
    spend(alice.account, "40.00", "u1")  # 40
    turn_on(client)
    assert run_auto_topup(account_id=alice.account_id).status == TopUp.Status.CREDITED
    assert balance(alice.account) == Money("140.00", "USD")


def test_the_ceilings_hold_and_the_customer_is_told(client, alice):
    save_card(client)
    turn_on(client, daily_ceiling="100.00")
    account = alice.account
    spend(account, "40.00", "u1")
    assert run_auto_topup(account_id=account.pk) is not None
    spend(account, "100.00", "u2")  # crossed again the same day
    assert run_auto_topup(account_id=account.pk) is None
    assert TopUp.objects.filter(is_automatic=True).count() == 1
    assert "ceiling" in AutoTopUp.objects.get().last_problem


def test_three_declines_in_a_row_pause_it_with_an_email_and_a_text_each(client, alice):
    save_card(client, declines=True)
    turn_on(client, threshold="90.00")
    account = alice.account
    for n in range(3):  # turning it on below 90 is the first crossing; each +20/−20 makes the next
        assert run_auto_topup(account_id=account.pk).status == TopUp.Status.FAILED
        post_ledger_entry(account_id=account.pk, amount=Money("20.00", "USD"), kind="adjustment", source_ref=f"a{n}")
        spend(account, "20.00", f"u{n}")
    auto = AutoTopUp.objects.get()
    assert auto.paused_at is not None and auto.failures_in_a_row == 3
    assert Account.objects.get(pk=account.pk).refill_below is None
    assert run_auto_topup(account_id=account.pk) is None  # paused: the crossing is not charged
    assert OutboundEmail.objects.filter(dedupe_key__startswith="auto-topup:").count() == 3
    assert OutboundSms.objects.filter(dedupe_key__startswith="auto-topup:").count() == 3
    overview = client.get("/billing/").content.decode()
    assert "declined" in overview and "Auto top-up" in overview
    assert "Paused" in client.get("/billing/pay/auto/").content.decode()
    turn_on(client, threshold="90.00")  # the customer turns it back on
    assert AutoTopUp.objects.get().paused_at is None


def test_removing_the_card_turns_it_off(client, alice):
    save_card(client)
    turn_on(client)
    response = client.post("/billing/pay/auto/", {"action": "remove_card"})
    assert response.status_code == 303
    auto = AutoTopUp.objects.get()
    assert not auto.enabled and not auto.has_card
    assert Account.objects.get(pk=alice.account_id).refill_below is None
    spend(alice.account, "60.00", "u1")
    assert run_auto_topup(account_id=alice.account_id) is None


def test_a_lost_task_is_run_by_the_sweep(client, alice):
    save_card(client)
    turn_on(client)
    spend(alice.account, "40.00", "u1")  # the worker never got the task
    assert sweep_auto_topups() == 1
    assert sweep_auto_topups() == 0
    assert TopUp.objects.filter(is_automatic=True, status=TopUp.Status.CREDITED).count() == 1


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("threshold", "1e3", "digits"),
        ("amount", "-5", "positive"),
        ("amount", "5.00", "between"),
        ("amount", "100000000", "between"),
        ("daily_ceiling", "50.00", "ceiling"),
        ("monthly_ceiling", "200.00", "ceiling"),
        ("threshold", "５０", "digits"),
        ("amount", "", "required"),
    ],
)
def test_hostile_settings_are_refused_and_nothing_changes(client, alice, field, value, message):
    save_card(client)
    response = turn_on(client, **{field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert list(response.context["form"].errors) == [field]  # said at the field that is wrong (found by a helper)
    auto = AutoTopUp.objects.get()
    assert not auto.enabled and auto.amount is None
    assert Account.objects.get(pk=alice.account_id).refill_below is None


def test_turning_on_without_a_card_or_for_a_postpaid_account_is_refused(client, alice):
    assert turn_on(client).status_code == 403
    from tests.factories import PostpaidAccountFactory

    bob = UserFactory(account=PostpaidAccountFactory())
    client.force_login(bob)
    assert client.post("/billing/pay/auto/", {"action": "save_card"}).status_code == 403
    assert turn_on(client).status_code == 403
    assert not AutoTopUp.objects.filter(account=bob.account).exists()


def test_a_card_saved_for_another_account_is_not_taken(client, alice):
    from topups.auto_topup import save_card as keep
    from topups.gateways.base import CardNotice

    save_card(client)
    mallory = UserFactory()
    notice = CardNotice("e1", "card.saved", str(mallory.account_id), "sbx_x", "sbxpm_forged", label="Visa")
    assert keep(gateway_name="sandbox", notice=notice) == "ignored"
    assert AutoTopUp.objects.get().payment_method_id != "sbxpm_forged"


def test_stripe_charges_the_saved_card_off_session_once_per_crossing(client, alice, stripe_settings, fake_stripe):
    stripe_settings.PAYMENT_GATEWAY = "stripe"
    account = alice.account
    auto = card_on_file(alice)
    spend(account, "40.00", "u1")
    topup = run_auto_topup(account_id=account.pk)
    assert topup.status == TopUp.Status.CREDITED
    (intent,) = fake_stripe.intents.values()
    assert intent["metadata"] == {"topup": str(topup.public_id), "account": str(account.pk), "auto": "1"}
    for _ in range(2):  # Stripe's own notification of the same payment, twice: nothing more
        body, signature = signed(event("payment_intent.succeeded", intent))
        assert delivered(post_webhook(client, body, signature)) == "already_credited"
    assert balance(account) == Money("140.00", "USD")
    auto.refresh_from_db()
    assert auto.failures_in_a_row == 0


def test_stripe_declines_are_a_failed_auto_top_up(alice, stripe_settings, fake_stripe):
    fake_stripe.card_declines = True
    account = alice.account
    card_on_file(alice)
    spend(account, "40.00", "u1")
    topup = run_auto_topup(account_id=account.pk)
    assert topup.status == TopUp.Status.FAILED
    assert "insufficient funds" in AutoTopUp.objects.get().last_problem
    assert balance(account) == Money("40.00", "USD")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_debits_cross_once_and_pay_once(settings):
    """Twenty metering debits race across the threshold; then five workers race the crossing's task."""
    import threading

    from django.db import connection

    from accounts.usage_api.charges import ChargeRequest, post_usage_charges

    user = UserFactory(username="alice")
    account = user.account
    post_ledger_entry(account_id=account.pk, amount=Money("100.00", "USD"), kind="adjustment", source_ref="seed")
    SandboxCheckout.objects.create(
        mode="setup",
        session_id="x",
        reference="",
        account_ref="",
        description="",
        amount=Money(0, "USD"),
        success_url="",
        cancel_url="",
        status="paid",
        expires_at="2026-01-01T00:00Z",
    )
    card_on_file(user, gateway="sandbox", payment_method="sbxpm_x", daily="100")

    def race(target, count):
        barrier = threading.Barrier(count)

        def run(n):
            try:
                barrier.wait()
                target(n)
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    race(
        lambda n: post_usage_charges(
            service="metering", requests=[ChargeRequest(account.pk, Money("4.00", "USD"), f"k{n}")]
        ),
        20,
    )
    assert Account.objects.get(pk=account.pk).refill_crossings == 1  # 100 → 20, crossing 50 once
    race(lambda n: run_auto_topup(account_id=account.pk), 5)
    assert TopUp.objects.filter(is_automatic=True).count() == 1
    assert balance(account) == Money("120.00", "USD")
    assert ledger_mismatches() == []


def test_a_card_saved_in_stripe_checkout_setup_mode_is_kept_once(client, alice, stripe_settings, fake_stripe):
    """The redirect, then setup_intent.succeeded (twice), then the return page's own check."""
    stripe_settings.PAYMENT_GATEWAY = "stripe"
    response = client.post("/billing/pay/auto/", {"action": "save_card"})
    assert response.status_code == 303 and response["Location"].startswith("https://checkout.stripe.com/")
    auto = AutoTopUp.objects.get()
    session = fake_stripe.sessions[auto.setup_session_id]
    assert session["mode"] == "setup" and session["customer"] == auto.gateway_customer_id
    setup_intent = {
        "id": session["setup_intent"],
        "object": "setup_intent",
        "customer": auto.gateway_customer_id,
        "metadata": {"account": str(alice.account_id)},
        "payment_method": "pm_1QtestCard",
        "status": "succeeded",
        "usage": "off_session",
    }
    payload = event("setup_intent.succeeded", setup_intent)
    verdicts = []
    for _ in range(2):
        body, signature = signed(payload)
        verdicts.append(delivered(post_webhook(client, body, signature)))
    other = event("setup_intent.succeeded", {**setup_intent, "id": "seti_other", "payment_method": "pm_again"})
    body, signature = signed(other)
    verdicts.append(delivered(post_webhook(client, body, signature)))
    assert verdicts == ["updated", "updated", "updated"]  # the second delivery answers with its first verdict
    auto.refresh_from_db()
    assert auto.payment_method_id == "pm_again"  # the newest card of the account wins
    mallory = UserFactory()
    forged = event(
        "setup_intent.succeeded", {**setup_intent, "id": "seti_m", "metadata": {"account": str(mallory.account_id)}}
    )
    body, signature = signed(forged)
    assert delivered(post_webhook(client, body, signature)) == "ignored"


def test_stripe_payment_failed_for_a_pending_auto_top_up_closes_it(client, alice, stripe_settings):
    """payment_intent.payment_failed, twice and after a success of another top-up: only its own top-up closes."""
    topup = TopUp.objects.create(
        account=alice.account,
        created_by=alice,
        gateway="stripe",
        amount=Money("100.00", "USD"),
        credit_amount=Money("100.00", "USD"),
        request_key="auto:1",
        is_automatic=True,
        gateway_session_id="pi_auto1",
    )
    intent = {
        "id": "pi_auto1",
        "object": "payment_intent",
        "amount": 10000,
        "currency": "usd",
        "status": "requires_payment_method",
        "metadata": {"topup": str(topup.public_id), "account": str(alice.account_id), "auto": "1"},
        "last_payment_error": {"message": "Your card was declined."},
    }
    for _ in range(2):
        body, signature = signed(event("payment_intent.payment_failed", intent))
        assert post_webhook(client, body, signature).status_code == 200
    apply_stored()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED
    assert balance(alice.account) == Money("80.00", "USD")
    checkout_intent = {
        **intent,
        "id": "pi_checkout",
        "status": "succeeded",
        "metadata": {"topup": str(topup.public_id)},
    }
    body, signature = signed(event("payment_intent.succeeded", checkout_intent))
    assert delivered(post_webhook(client, body, signature)) == "ignored"  # a Checkout payment's own intent


def test_cancelling_the_card_page_saves_no_card(client, alice):
    response = client.post("/billing/pay/auto/", {"action": "save_card"})
    gateway = client.post(response["Location"], {"outcome": "cancel"})
    assert "card=cancelled" in gateway["Location"]
    page = client.get("/billing/pay/auto/?card=cancelled").content.decode()
    assert "No card was saved" in page
    assert not AutoTopUp.objects.get().has_card
    assert "Visa" not in client.get("/billing/pay/auto/?card=saved").content.decode()


def test_saving_the_settings_again_below_the_threshold_does_not_charge_again(client, alice):
    save_card(client)
    spend(alice.account, "40.00", "u1")  # 40, below 50
    first = turn_on(client)
    assert "charged now" in client.get(first["Location"]).content.decode()
    for _ in range(3):
        turn_on(client)  # the same settings, saved again while still below
    assert Account.objects.get(pk=alice.account_id).refill_crossings == 1
    assert run_auto_topup(account_id=alice.account_id).status == TopUp.Status.CREDITED
    assert run_auto_topup(account_id=alice.account_id) is None
    assert TopUp.objects.filter(is_automatic=True).count() == 1


def test_a_crossing_stopped_by_the_ceiling_tops_up_once_the_day_turns(client, alice):
    from datetime import timedelta

    from django.utils import timezone

    save_card(client)
    turn_on(client, daily_ceiling="100.00")
    account = alice.account
    spend(account, "40.00", "u1")
    assert run_auto_topup(account_id=account.pk) is not None  # 140
    spend(account, "100.00", "u2")  # 40 again: the day's 100 are used
    assert sweep_auto_topups() == 0
    assert "resets" in AutoTopUp.objects.get().last_problem
    assert OutboundEmail.objects.filter(subject__contains="auto top-up did not go through").count() == 1
    tomorrow = timezone.now() + timedelta(days=1)
    assert sweep_auto_topups(now=tomorrow) == 1
    assert TopUp.objects.filter(is_automatic=True, status=TopUp.Status.CREDITED).count() == 2


def test_the_ceilings_count_finances_calendar_day_not_the_servers(client, alice, settings):
    """07:30 and 08:30 of one Shanghai morning fall on two UTC days: the daily ceiling of one top-up had let both
    through (found by a helper)."""
    from datetime import UTC, datetime

    import time_machine

    settings.FINANCE_TIME_ZONE = "Asia/Shanghai"
    save_card(client)
    turn_on(client, daily_ceiling="100.00")
    account = alice.account
    with time_machine.travel(datetime(2026, 12, 5, 23, 30, tzinfo=UTC), tick=False):  # Sunday 07:30 in Shanghai
        spend(account, "40.00", "u1")
        assert run_auto_topup(account_id=account.pk) is not None
    with time_machine.travel(datetime(2026, 12, 6, 0, 30, tzinfo=UTC), tick=False):  # the same Sunday, 08:30
        spend(account, "100.00", "u2")
        assert run_auto_topup(account_id=account.pk) is None
        assert "resets" in AutoTopUp.objects.get().last_problem
    with time_machine.travel(datetime(2026, 12, 6, 16, 0, tzinfo=UTC), tick=False):  # Monday 00:00 in Shanghai
        assert sweep_auto_topups() == 1
    assert TopUp.objects.filter(is_automatic=True, status=TopUp.Status.CREDITED).count() == 2
    assert ledger_mismatches() == []


def test_a_postpaid_account_cannot_remove_a_card_it_never_had(client, alice):
    from tests.factories import PostpaidAccountFactory

    client.force_login(UserFactory(account=PostpaidAccountFactory()))
    assert client.post("/billing/pay/auto/", {"action": "remove_card"}).status_code == 403
    assert client.post("/billing/pay/auto/", {"action": "settings"}).status_code == 403
    assert not AutoTopUp.objects.exists()


def test_the_overview_warning_names_the_pause_and_clears_after_a_success(client, alice):
    save_card(client, declines=True)
    turn_on(client, threshold="90.00")
    account = alice.account
    for n in range(3):
        run_auto_topup(account_id=account.pk)
        post_ledger_entry(account_id=account.pk, amount=Money("20.00", "USD"), kind="adjustment", source_ref=f"a{n}")
        spend(account, "20.00", f"u{n}")
    overview = client.get("/billing/").content.decode()
    assert "paused until you turn it on again" in overview
    save_card(client)  # a working card, then on again: the crossing tops up
    turn_on(client, threshold="90.00")
    assert run_auto_topup(account_id=account.pk).status == TopUp.Status.CREDITED
    assert "failed" not in client.get("/billing/").content.decode()


def test_auto_topups_stay_within_the_accounts_24_hour_top_up_limit(client, alice, settings):
    """Auto top-ups counted only against their own ceilings: three crossings in a day had credited 150,000.00 USD
    past the 100,000.00 daily limit a customer's own top-ups are held to (found by a helper)."""
    save_card(client)
    settings_form = {"action": "settings", "enabled": "on", "threshold": "50.00", "amount": "50000.00"}
    too_high = client.post(
        "/billing/pay/auto/", {**settings_form, "daily_ceiling": "1000000", "monthly_ceiling": "1000000"}
    )
    assert too_high.status_code == 400 and "at most the daily top-up limit, 100,000.00 USD" in too_high.content.decode()
    assert (
        client.post(
            "/billing/pay/auto/", {**settings_form, "daily_ceiling": "100000", "monthly_ceiling": "1000000"}
        ).status_code
        == 303
    )
    client.post("/billing/pay/", {"amount": "10000.00"})  # a checkout of the customer's own, still payable, counts
    spend(alice.account, "40.00", "u0")
    for n in range(3):
        run_auto_topup(account_id=alice.account_id)
        spend(alice.account, "50000.00", f"u{n + 1}")
    credited = TopUp.objects.filter(is_automatic=True, status="credited")
    assert credited.count() == 1  # 10,000 open + 50,000 + the next 50,000 would pass 100,000
    assert "reached the daily limit" in AutoTopUp.objects.get().last_problem
    assert ledger_mismatches() == []


def test_a_disputed_card_payment_pauses_auto_top_up_before_the_card_is_charged_again(
    client, alice, stripe_settings, fake_stripe
):
    """The chargeback's debit is a crossing: the card the cardholder calls stolen had been charged again at once."""
    from tests.fakes.stripe import dispute_object

    stripe_settings.PAYMENT_GATEWAY = "stripe"
    card_on_file(alice)
    spend(alice.account, "40.00", "u1")
    first = run_auto_topup(account_id=alice.account_id)
    assert first.status == TopUp.Status.CREDITED
    first.refresh_from_db()
    dispute = dispute_object(payment_intent=first.payment_intent_id, amount=10000, reason="fraudulent")
    assert post_webhook(client, *signed(event("charge.dispute.created", dispute))).status_code == 200
    apply_stored()
    assert balance(alice.account) == Money("40.00", "USD")
    assert run_auto_topup(account_id=alice.account_id) is None and len(fake_stripe.intents) == 1
    auto = AutoTopUp.objects.get()
    assert auto.paused_at is not None and f"{first.reference} was disputed" in auto.last_problem
    assert OutboundEmail.objects.filter(subject__contains="auto top-up did not go through").exists()


def lose_the_answer(fake_stripe, *, status: str = "succeeded", taken: bool = True):
    """Stripe takes the charge (and settles it at `status`), but its answer never reaches us; or, not `taken`,
    the request never reaches Stripe."""
    import json

    import requests
    import responses

    from tests.fakes.stripe import API

    def taken_then_lost(request):
        if taken:
            answer = json.loads(fake_stripe._payment_intent(request)[2])
            fake_stripe.intents[answer["id"]]["status"] = status
        return requests.exceptions.ConnectionError("connection reset by peer")

    fake_stripe.mock.remove(responses.POST, f"{API}/v1/payment_intents")
    fake_stripe.mock.add_callback(responses.POST, f"{API}/v1/payment_intents", callback=taken_then_lost)


def test_a_charge_whose_answer_was_lost_stays_pending_and_its_late_notification_credits_it(
    client, alice, stripe_settings, fake_stripe
):
    """It had been closed as "nothing was charged", and Stripe's payment_intent.succeeded was then flagged as
    naming another session: the card was charged, the balance never credited (found by a helper)."""
    stripe_settings.PAYMENT_GATEWAY = "stripe"
    card_on_file(alice)
    lose_the_answer(fake_stripe)
    spend(alice.account, "40.00", "u1")
    topup = run_auto_topup(account_id=alice.account_id)
    assert topup.status == TopUp.Status.PENDING and not OutboundEmail.objects.exists()  # nothing said yet
    (intent,) = fake_stripe.intents.values()
    assert delivered(post_webhook(client, *signed(event("payment_intent.succeeded", intent)))) == "credited"
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED and balance(alice.account) == Money("140.00", "USD")


@pytest.mark.parametrize("settled", ["succeeded", "processing"])
def test_the_reconciler_finds_an_auto_top_ups_payment_at_stripe_and_settles_it(
    client, alice, stripe_settings, fake_stripe, settled
):
    """Without an answer, or left processing with its notification lost, an auto top-up had stayed pending for
    ever: the reconciler asked Checkout about a PaymentIntent id (found by a helper)."""
    from datetime import timedelta

    from django.utils import timezone

    from topups.reconcile import reconcile_pending_topups

    stripe_settings.PAYMENT_GATEWAY = "stripe"
    card_on_file(alice)
    lose_the_answer(fake_stripe, status=settled)
    spend(alice.account, "40.00", "u1")
    topup = run_auto_topup(account_id=alice.account_id)
    later = timezone.now() + timedelta(minutes=15)
    reconcile_pending_topups(now=later)
    topup.refresh_from_db()
    if settled == "succeeded":
        assert topup.status == TopUp.Status.CREDITED and balance(alice.account) == Money("140.00", "USD")
        return
    assert topup.status == TopUp.Status.PENDING  # still processing at Stripe
    (intent,) = fake_stripe.intents.values()
    intent["status"] = "requires_payment_method"  # then declined; its notification lost too
    reconcile_pending_topups(now=later + timedelta(minutes=15))
    topup.refresh_from_db()
    auto = AutoTopUp.objects.get()
    assert topup.status == TopUp.Status.FAILED and balance(alice.account) == Money("40.00", "USD")
    assert auto.failures_in_a_row == 1 and OutboundEmail.objects.filter(subject__contains="did not go through").exists()


def test_an_auto_top_up_stripe_never_took_is_closed_and_told_when_the_reconciler_asks(
    client, alice, stripe_settings, fake_stripe
):
    from datetime import timedelta

    from django.utils import timezone

    from topups.reconcile import reconcile_pending_topups

    stripe_settings.PAYMENT_GATEWAY = "stripe"
    card_on_file(alice)
    lose_the_answer(fake_stripe, taken=False)
    spend(alice.account, "40.00", "u1")
    topup = run_auto_topup(account_id=alice.account_id)
    assert topup.status == TopUp.Status.PENDING and not fake_stripe.intents
    reconcile_pending_topups(now=timezone.now() + timedelta(minutes=15))
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED and "no payment for this auto top-up" in topup.failure_reason
    assert AutoTopUp.objects.get().failures_in_a_row == 1 and balance(alice.account) == Money("40.00", "USD")


def test_a_decline_announced_by_webhook_is_counted_and_told_once(client, alice, stripe_settings, fake_stripe):
    """A charge left processing, then failed: payment_intent.payment_failed closed it, but nothing counted the
    failure toward the pause nor told the customer (found by a helper); delivered twice, it is told once."""
    stripe_settings.PAYMENT_GATEWAY = "stripe"
    card_on_file(alice)
    lose_the_answer(fake_stripe, status="processing")
    spend(alice.account, "40.00", "u1")
    run_auto_topup(account_id=alice.account_id)
    (intent,) = fake_stripe.intents.values()
    failed = {
        **intent,
        "status": "requires_payment_method",
        "last_payment_error": {"message": "Your card was declined."},
    }
    for _ in range(2):
        post_webhook(client, *signed(event("payment_intent.payment_failed", failed, event_id="evt_declined")))
        apply_stored()
    assert TopUp.objects.get().status == TopUp.Status.FAILED
    auto = AutoTopUp.objects.get()
    assert auto.failures_in_a_row == 1 and "Your card was declined." in auto.last_problem
    assert OutboundEmail.objects.filter(subject__contains="did not go through").count() == 1


def test_an_unanswered_auto_top_up_keeps_counting_toward_the_24_hour_limit(client, alice, stripe_settings, fake_stripe):
    """Past a checkout's lifetime a pending auto top-up had stopped counting, though its charge may have been taken:
    a Pay top-up then passed the daily limit with it (found by a helper)."""
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    stripe_settings.PAYMENT_GATEWAY = "stripe"
    stripe_settings.TOPUP_LIMITS = {"USD": ("1.00", "300.00", "300.00")}
    card_on_file(alice)
    lose_the_answer(fake_stripe)
    spend(alice.account, "40.00", "u1")
    assert run_auto_topup(account_id=alice.account_id).status == TopUp.Status.PENDING
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        page = client.post("/billing/pay/", {"amount": "250.00"})
    assert "above the daily limit" in page.content.decode()
    assert TopUp.objects.count() == 1


def test_the_sandbox_tells_at_the_reconcilers_first_question_that_it_never_charged(client, alice):
    """The sandbox charges when asked: an auto top-up it did not charge (a card it does not know) had stayed pending
    and silent for a day (found by a helper)."""
    from datetime import timedelta

    from django.utils import timezone

    from topups.reconcile import reconcile_pending_topups

    card_on_file(alice, gateway="sandbox", payment_method="sbxpm_unknown")
    spend(alice.account, "40.00", "u1")
    topup = run_auto_topup(account_id=alice.account_id)
    assert topup.status == TopUp.Status.PENDING
    reconcile_pending_topups(now=timezone.now() + timedelta(minutes=15))
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.FAILED and AutoTopUp.objects.get().failures_in_a_row == 1
    assert OutboundEmail.objects.filter(subject__contains="did not go through").count() == 1
