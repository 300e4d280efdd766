"""The expenditure alert: settings on the Overview page, confirmed numbers, once per
crossing, re-arming, the 24-hour limit, the sweep, the text, and SMS delivery."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from accounts.alerts import check_balance_alert, set_alert, sweep_balance_alerts
from accounts.ledger import post_ledger_entry
from accounts.models import Account, AlertRecipient, BalanceAlert, OutboundSms
from accounts.notifications import deliver_sms
from accounts.recipients import add_email_recipient
from accounts.sms import memory
from accounts.sms.base import SmsError
from tests.factories import UserFactory
from tests.fakes.twilio import FakeTwilio

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_sms_outbox():
    memory.outbox.clear()


@pytest.fixture
def alice(client):
    user = UserFactory(username="alice", email="alice@example.com")
    post_ledger_entry(account_id=user.account_id, amount=Money("100.00", "USD"), kind="adjustment", source_ref="seed")
    client.force_login(user)
    return user


def alert_post(client, **data):
    return client.post("/billing/alert/", data)


def sent_code(number: str) -> str:
    sms = OutboundSms.objects.filter(to=number, dedupe_key__startswith="code:").latest("created_at")
    return re.search(r"\b(\d{6})\b", sms.text).group(1)


def confirmed_alert(account, threshold="50.00", number="+8613800138000"):
    AlertRecipient.objects.create(account=account, kind="sms", address=number, confirmed_at=timezone.now())
    set_alert(account_id=account.pk, enabled=True, threshold=Decimal(threshold), actor=None)


def debit(account, amount, ref):
    post_ledger_entry(account_id=account.pk, amount=Money(f"-{amount}", "USD"), kind="usage", source_ref=ref)


def test_alice_sets_a_threshold_and_confirms_her_number_with_the_code(client, alice):
    response = alert_post(client, action="save", enabled="on", threshold="40.00")
    assert response.status_code == 303 and response["Location"].endswith("#alert")
    account = Account.objects.get(pk=alice.account_id)
    assert account.alert_enabled and account.alert_threshold == Decimal("40.00")

    assert alert_post(client, action="add_phone", number="+86 138 0013 8000").status_code == 303
    recipient = AlertRecipient.objects.get()
    assert recipient.address == "+8613800138000" and not recipient.is_confirmed
    code = sent_code("+8613800138000")
    page = client.get("/billing/").content.decode()
    assert "Awaiting code" in page and code not in page

    wrong = "000000" if code != "000000" else "111111"
    refused = alert_post(client, action="confirm", recipient=recipient.pk, code=wrong)
    assert refused.status_code == 400 and "4 tries left" in refused.content.decode()
    assert alert_post(client, action="confirm", recipient=recipient.pk, code=code).status_code == 303
    assert AlertRecipient.objects.get().is_confirmed
    assert alert_post(client, action="add_email", email="ops@alice.example").status_code == 303
    assert "Confirmed" in client.get("/billing/").content.decode()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"action": "save", "enabled": "on", "threshold": ""}, "Enter the balance below which"),
        ({"action": "save", "enabled": "on", "threshold": "-5"}, "positive"),
        ({"action": "save", "enabled": "on", "threshold": "1e3"}, "digits"),
        ({"action": "add_phone", "number": "138 0013 8000"}, "country code"),
        ({"action": "add_phone", "number": "+86 138 ABCD 8000"}, ""),
        ({"action": "add_phone", "number": "+86 138 0013 8000\nBcc: x"}, ""),
        ({"action": "add_phone", "number": "+1 900 555 0199"}, ""),
        ({"action": "add_phone", "number": "10086"}, ""),
        ({"action": "add_phone", "number": "+8613800138000123456"}, ""),
        ({"action": "add_email", "email": "not an address"}, "valid email"),
        ({"action": "confirm", "recipient": "abc", "code": "123456"}, "Choose a recipient"),
        ({"action": "confirm", "recipient": "9" * 25, "code": "123456"}, "Choose a recipient"),
        ({"action": "remove", "recipient": "-1"}, "Choose a recipient"),
    ],
)
def test_bad_alert_input_is_a_400_with_a_message(client, alice, data, message):
    response = alert_post(client, **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not AlertRecipient.objects.exists() and not OutboundSms.objects.exists()


def test_an_unknown_recipient_is_a_404_with_a_message(client, alice):
    response = alert_post(client, action="confirm", recipient="999999", code="123456")
    assert response.status_code == 404
    assert "Unknown recipient" in response.content.decode()


def test_unknown_actions_and_other_accounts_recipients_are_refused(client, alice):
    assert alert_post(client, action="drop_tables").status_code == 400
    other = UserFactory()
    theirs = AlertRecipient.objects.create(account=other.account, kind="sms", address="+8613900139000")
    alert_post(client, action="remove", recipient=theirs.pk)
    assert AlertRecipient.objects.filter(pk=theirs.pk).exists()
    assert alert_post(client, action="confirm", recipient=theirs.pk, code="123456").status_code == 404
    assert alert_post(client, action="resend", recipient=theirs.pk).status_code == 404


def test_an_alert_fires_once_per_crossing_and_re_arms_on_a_top_up(alice, django_capture_on_commit_callbacks):
    account = alice.account
    confirmed_alert(account)
    debit(account, "30.00", "u1")  # 70: above
    assert check_balance_alert(account_id=account.pk) is None
    debit(account, "25.00", "u2")  # 45: crossed
    alert = check_balance_alert(account_id=account.pk)
    assert alert.crossing == 1 and alert.balance == Money("45.00", "USD")
    debit(account, "5.00", "u3")  # still below: nothing more
    assert check_balance_alert(account_id=account.pk) is None
    assert OutboundSms.objects.filter(alert__isnull=False).count() == 1

    post_ledger_entry(account_id=account.pk, amount=Money("60.00", "USD"), kind="adjustment", source_ref="topup")
    assert Account.objects.get(pk=account.pk).alert_armed  # 100: re-armed by the ledger
    debit(account, "60.00", "u4")  # 40: crossed again, but within 24 h of the last alert
    assert check_balance_alert(account_id=account.pk) is None
    later = timezone.now() + timedelta(hours=24, minutes=1)
    assert sweep_balance_alerts(now=later) == 1  # the sweep sends the deferred one
    assert sweep_balance_alerts(now=later) == 0
    assert list(BalanceAlert.objects.order_by("crossing").values_list("crossing", flat=True)) == [1, 2]
    assert OutboundSms.objects.filter(alert__isnull=False).count() == 2


def test_a_new_threshold_re_arms_and_fires_at_once_if_already_below(alice):
    account = alice.account
    confirmed_alert(account, threshold="50.00")
    debit(account, "60.00", "u1")
    assert check_balance_alert(account_id=account.pk) is not None
    Account.objects.filter(pk=account.pk).update(last_alert_at=timezone.now() - timedelta(days=2))
    set_alert(account_id=account.pk, enabled=True, threshold=Decimal("45.00"), actor=None)
    assert Account.objects.get(pk=account.pk).alert_armed
    assert check_balance_alert(account_id=account.pk).crossing == 2


def test_the_text_has_balance_threshold_runway_and_the_pay_link(alice, settings):
    settings.SITE_URL = "https://billing.example.com"
    account = alice.account
    confirmed_alert(account, threshold="80.00")
    for day in range(7):
        post_ledger_entry(
            account_id=account.pk,
            amount=Money("-3.00", "USD"),
            kind="usage",
            source_ref=f"day{day}",
            now=timezone.now() - timedelta(days=day, hours=1),
        )
    alert = check_balance_alert(account_id=account.pk)
    # 79 left, 21 spent in 7 days = 3 a day: about 26 days.
    assert "79.00 USD" in alert.text and "80.00 USD" in alert.text
    assert "At your last 7 days' usage, about 26 days left." in alert.text
    assert alert.text.endswith("Top up: https://billing.example.com/billing/pay/")


def test_no_alert_when_off_unconfigured_or_only_unconfirmed_numbers(alice):
    account = alice.account
    AlertRecipient.objects.create(account=account, kind="sms", address="+8613800138000")  # not confirmed
    set_alert(account_id=account.pk, enabled=False, threshold=Decimal("50"), actor=None)
    debit(account, "90.00", "u1")
    assert check_balance_alert(account_id=account.pk) is None
    set_alert(account_id=account.pk, enabled=True, threshold=Decimal("50"), actor=None)
    alert = check_balance_alert(account_id=account.pk)
    assert alert is not None and not alert.sms.exists()  # recorded in the history, nothing texted


def test_a_rollback_records_and_sends_nothing(alice):
    from django.db import transaction

    account = alice.account
    confirmed_alert(account)
    debit(account, "60.00", "u1")
    with pytest.raises(RuntimeError), transaction.atomic():
        check_balance_alert(account_id=account.pk)
        raise RuntimeError
    assert not BalanceAlert.objects.exists() and not OutboundSms.objects.exists()


def test_delivery_sends_once_and_a_duplicate_task_sends_nothing(alice):
    account = alice.account
    confirmed_alert(account)
    debit(account, "60.00", "u1")
    alert = check_balance_alert(account_id=account.pk)
    sms = alert.sms.get()
    deliver_sms(sms_id=sms.pk)
    deliver_sms(sms_id=sms.pk)
    sms.refresh_from_db()
    assert sms.status == "sent" and sms.provider_message_id.startswith("mem-")
    assert [m["to"] for m in memory.outbox] == ["+8613800138000"]


def test_twilio_failures_retry_then_fail_visibly(alice, settings):
    account = alice.account
    confirmed_alert(account)
    debit(account, "60.00", "u1")
    sms = check_balance_alert(account_id=account.pk).sms.get()
    with FakeTwilio() as twilio:
        twilio.configure(settings)
        settings.SMS_BACKEND = "accounts.sms.twilio.TwilioBackend"
        twilio.fail_next(5, status=500)
        for attempt in range(5):
            with pytest.raises(SmsError):
                deliver_sms(sms_id=sms.pk)
            sms.refresh_from_db()
            assert sms.status == ("failed" if attempt == 4 else "pending")
        assert "20500" in sms.last_error and settings.TWILIO_AUTH_TOKEN not in sms.last_error
        assert twilio.messages == []


def test_an_invalid_number_at_the_provider_fails_at_once(alice, settings):
    from accounts.outbox import PermanentFailure

    account = alice.account
    confirmed_alert(account)
    debit(account, "60.00", "u1")
    sms = check_balance_alert(account_id=account.pk).sms.get()
    with FakeTwilio() as twilio:
        twilio.configure(settings)
        settings.SMS_BACKEND = "accounts.sms.twilio.TwilioBackend"
        twilio.fail_next(status=400)
        with pytest.raises(PermanentFailure):
            deliver_sms(sms_id=sms.pk)
    sms.refresh_from_db()
    assert sms.status == "failed" and sms.attempts == 1


def test_the_twilio_backend_delivers_an_alert(alice, settings):
    account = alice.account
    confirmed_alert(account)
    debit(account, "60.00", "u1")
    sms = check_balance_alert(account_id=account.pk).sms.get()
    with FakeTwilio() as twilio:
        twilio.configure(settings)
        settings.SMS_BACKEND = "accounts.sms.twilio.TwilioBackend"
        deliver_sms(sms_id=sms.pk)
    sms.refresh_from_db()
    assert sms.status == "sent" and sms.provider_message_id.startswith("SM")
    assert twilio.messages[0]["To"] == "+8613800138000" and "below your alert threshold" in twilio.messages[0]["Body"]


def test_the_alert_history_and_the_sms_log(client, alice, admin_client):
    account = alice.account
    confirmed_alert(account)
    debit(account, "60.00", "u1")
    check_balance_alert(account_id=account.pk)
    page = client.get("/billing/alerts/").content.decode()
    assert "40.00 USD" in page and "+8613800138000" in page
    log = admin_client.get("/admin/accounts/outboundsms/").content.decode()
    assert "+86 **** 8000" in log and "+8613800138000" not in log
    other = UserFactory()
    client.force_login(other)
    assert "No alerts yet." in client.get("/billing/alerts/").content.decode()


def test_the_alert_history_lists_the_e_mails_sent_with_the_alert(client, alice):
    account = alice.account
    confirmed_alert(account)
    add_email_recipient(account_id=account.pk, email="ops@example.com")
    debit(account, "60.00", "u1")
    alert = check_balance_alert(account_id=account.pk)
    assert alert.emails.get().to == "ops@example.com"
    delivery = client.get("/billing/alerts/").content.decode().split('data-testid="alert-delivery"')[1]
    assert "SMS" in delivery and "+8613800138000" in delivery
    assert "E-mail" in delivery and "ops@example.com" in delivery


def test_wrong_codes_are_counted_even_though_each_is_refused(client, alice):
    alert_post(client, action="add_phone", number="+86 138 0013 8000")
    recipient = AlertRecipient.objects.get()
    code = sent_code(recipient.address)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        response = alert_post(client, action="confirm", recipient=recipient.pk, code=wrong)
        assert f"{left} tr" in response.content.decode()
    assert (
        "Too many wrong codes"
        in alert_post(client, action="confirm", recipient=recipient.pk, code=code).content.decode()
    )
    assert not AlertRecipient.objects.get().is_confirmed


def test_an_account_cannot_make_us_text_without_end(client, alice):
    """Removing and re-adding a number resets its own count, but not the account's daily cap."""
    for _ in range(8):
        if alert_post(client, action="add_phone", number="+44 7400 123456").status_code != 303:
            break
        recipient = AlertRecipient.objects.get()
        for _ in range(3):
            alert_post(client, action="resend", recipient=recipient.pk)
        alert_post(client, action="remove", recipient=recipient.pk)
    assert OutboundSms.objects.filter(dedupe_key__startswith="code:").count() == 10
    response = alert_post(client, action="add_phone", number="+44 7400 123457")
    assert response.status_code == 403 and "Try again tomorrow" in response.content.decode()
    assert not AlertRecipient.objects.exists()


def test_satellite_numbers_and_a_zero_threshold(client, alice):
    response = alert_post(client, action="add_phone", number="+881 631 234 567")
    assert response.status_code == 400 and "Satellite" in response.content.decode()
    assert alert_post(client, action="save", enabled="on", threshold="0").status_code == 303
    assert Account.objects.get(pk=alice.account_id).alert_threshold == Decimal("0")


def test_a_long_e_mail_recipient_does_not_stop_the_alert(alice):
    account = alice.account
    confirmed_alert(account)
    AlertRecipient.objects.create(
        account=account,
        kind="email",
        address="a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com",
        confirmed_at=timezone.now(),
    )
    debit(account, "60.00", "u1")
    alert = check_balance_alert(account_id=account.pk)
    assert alert.sms.count() == 1
    from accounts.models import OutboundEmail

    assert all(len(e.dedupe_key) <= 200 for e in OutboundEmail.objects.all())


def test_alerts_are_for_prepaid_accounts_only(client):
    from tests.factories import PostpaidAccountFactory

    bob = UserFactory(account=PostpaidAccountFactory())
    client.force_login(bob)
    assert 'id="alert"' not in client.get("/billing/").content.decode()
    response = alert_post(client, action="save", enabled="on", threshold="50")
    assert response.status_code == 403  # refused for this account type, like a top-up
    assert not Account.objects.get(pk=bob.account_id).alert_enabled


def test_an_alert_without_a_confirmed_number_says_nobody_is_texted(client, alice):
    response = alert_post(client, action="save", enabled="on", threshold="50")
    page = client.get(response["Location"]).content.decode()
    assert "until then nobody is texted" in page
    assert 'data-testid="no-recipient"' in page
