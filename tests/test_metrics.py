"""/metrics: closed unless configured, then only to the token and the allow-list; Prometheus text
with our figures, right after real top-ups, tickets, webhooks and SMS; a bounded number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money
from prometheus_client.parser import text_string_to_metric_families

from accounts.alerts import check_balance_alert
from accounts.ledger import post_ledger_entry
from accounts.models import AlertRecipient, OutboundSms, User
from accounts.notifications import deliver_sms
from accounts.outbox import PermanentFailure
from billing_center.celery import app
from tests.accounts.test_alert_delivery import alerting_account
from tests.factories import UserFactory
from tests.fakes.twilio import FakeTwilio
from tests.intake import apply_stored
from tests.tickets.conftest import details, finance_group, make_ticket, upload, usd_receiving_account  # noqa: F401
from tests.topups.test_auto_topup import save_card, spend, turn_on
from tests.topups.test_sandbox_gateway import SECRET
from tickets.certificates import check_certificate
from tickets.intake import submit_ticket
from tickets.review import confirm_and_credit
from topups.auto_topup import run_auto_topup
from topups.gateways import signing
from topups.gateways.sandbox import notification_body
from topups.models import SandboxCheckout, TopUp

pytestmark = pytest.mark.django_db
TOKEN = "metrics-token-0123456789abcdef0123456789abcdef"


@pytest.fixture
def closed(settings):
    """Neither a token nor an allow-list, and loopback not open: what production starts with."""
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW = []
    settings.METRICS_OPEN_ON_LOOPBACK = False
    settings.TRUSTED_PROXY_COUNT = 0
    return settings


def scrape(client=None, *, address="10.0.0.7", token=None, **headers):
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return (client or Client()).get("/metrics", REMOTE_ADDR=address, **headers)


def values(response) -> dict[tuple, float]:
    """{(sample name, (label, value), ...): value} of a Prometheus text page."""
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return found


def value(page: dict, name: str, **labels) -> float:
    return page[(name, *sorted(labels.items()))]


# --- Access ----------------------------------------------------------------------------------


def test_unconfigured_metrics_are_a_404_even_from_loopback_in_production(closed):
    assert scrape(address="127.0.0.1").status_code == 404
    assert scrape(address="10.0.0.7").status_code == 404


def test_in_development_unconfigured_metrics_open_to_loopback_only(closed):
    closed.METRICS_OPEN_ON_LOOPBACK = True
    assert scrape(address="127.0.0.1").status_code == 200
    assert scrape(address="::1").status_code == 200
    assert scrape(address="10.0.0.7").status_code == 404
    assert scrape(address="192.168.1.20").status_code == 404


def test_with_a_token_only_the_token_gets_in(closed):
    closed.METRICS_TOKEN = TOKEN
    closed.METRICS_OPEN_ON_LOOPBACK = True  # a token, once set, is needed from loopback too
    anonymous = scrape(address="127.0.0.1")
    assert anonymous.status_code == 403
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert scrape(token=TOKEN[:-1] + "0").status_code == 403
    assert scrape(token="").status_code == 403
    assert scrape(HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 403
    assert scrape(token=TOKEN).status_code == 200
    assert Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_with_an_allow_list_only_listed_addresses_get_in(closed):
    closed.METRICS_ALLOW = ["10.1.0.0/16", "2001:db8::/32"]
    assert scrape(address="10.1.2.3").status_code == 200
    assert scrape(address="2001:db8::5").status_code == 200
    assert scrape(address="10.2.0.1").status_code == 403
    assert scrape(address="127.0.0.1").status_code == 403


def test_behind_a_proxy_the_allow_list_checks_the_address_the_proxy_saw(closed):
    closed.METRICS_ALLOW = ["10.1.0.0/16"]
    closed.TRUSTED_PROXY_COUNT = 1
    # The proxy itself is in the allowed network; the client it forwards is not.
    assert scrape(address="10.1.9.9", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    # A client cannot put an allowed address in front of what the proxy appends.
    assert scrape(address="10.1.9.9", HTTP_X_FORWARDED_FOR="10.1.2.3, 203.0.113.9").status_code == 403
    assert scrape(address="10.1.9.9", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.1.2.3").status_code == 200


def test_with_both_configured_a_scraper_needs_both(closed):
    closed.METRICS_TOKEN = TOKEN
    closed.METRICS_ALLOW = ["10.1.0.0/16"]
    assert scrape(address="10.1.2.3").status_code == 403
    assert scrape(address="10.2.0.1", token=TOKEN).status_code == 403
    assert scrape(address="10.1.2.3", token=TOKEN).status_code == 200


def test_production_settings_keep_loopback_closed_and_refuse_a_short_token():
    from tests.test_settings_and_commands import PRODUCTION_ENV, manage

    shown = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.METRICS_OPEN_ON_LOOPBACK)",
        env_overrides={**PRODUCTION_ENV, "METRICS_OPEN_ON_LOOPBACK": "true"},
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == "False"
    refused = manage("check", env_overrides={**PRODUCTION_ENV, "METRICS_TOKEN": "short"})
    assert refused.returncode != 0 and "METRICS_TOKEN must be at least 32 characters" in refused.stderr
    bad_network = manage("check", env_overrides={**PRODUCTION_ENV, "METRICS_ALLOW": "10.0.0.0/33"})
    assert bad_network.returncode != 0 and "METRICS_ALLOW" in bad_network.stderr


# --- What it reports ----------------------------------------------------------------------------


@pytest.fixture
def open_to_token(closed):
    closed.METRICS_TOKEN = TOKEN
    return closed


@pytest.fixture
def customer(client):
    user = UserFactory(username="maria", email="maria@example.com")
    post_ledger_entry(account_id=user.account_id, amount=Money("80.00", "USD"), kind="adjustment", source_ref="seed")
    AlertRecipient.objects.create(
        account=user.account, kind="sms", address="+8613800138000", confirmed_at=timezone.now()
    )
    client.force_login(user)
    return user


def pay_online_through_the_sandbox(client, amount: str) -> TopUp:
    """Pay, then the sandbox's signed notification, delivered twice, and one forged delivery."""
    client.post("/billing/pay/", {"amount": amount})
    topup = TopUp.objects.filter(is_automatic=False).latest("id")
    SandboxCheckout.objects.filter(session_id=topup.gateway_session_id).update(status=SandboxCheckout.Status.PAID)
    body = notification_body(SandboxCheckout.objects.get(session_id=topup.gateway_session_id))
    for signature in (signing.sign(body, SECRET), signing.sign(body, SECRET), signing.sign(body, "forged")):
        client.post("/webhooks/sandbox/", data=body, content_type="application/json", HTTP_SANDBOX_SIGNATURE=signature)
    apply_stored()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    return topup


def alert_sms(*, fails: bool, settings) -> OutboundSms:
    """A low-balance alert's SMS, delivered by the service the task runs: sent, or refused by Twilio."""
    account = alerting_account()
    post_ledger_entry(
        account_id=account.pk, amount=Money("-60.00", "USD"), kind="usage", source_ref=f"metered:{account.pk}"
    )
    alert = check_balance_alert(account_id=account.pk)
    sms = OutboundSms.objects.get(alert=alert)
    if fails:
        with FakeTwilio() as twilio:
            twilio.configure(settings)
            settings.SMS_BACKEND = "accounts.sms.twilio.TwilioBackend"
            twilio.fail_next(status=400)  # an invalid number: permanent
            with pytest.raises(PermanentFailure):
                deliver_sms(sms_id=sms.pk)
        settings.SMS_BACKEND = "accounts.sms.memory.MemoryBackend"
    else:
        deliver_sms(sms_id=sms.pk)
    sms.refresh_from_db()
    return sms


@pytest.fixture
def clerk(finance_group):  # noqa: F811  (the fixture imported above)
    user = UserFactory(username="fiona", account=None, is_staff=True, email="fiona@example.com")
    user.groups.add(finance_group)
    return User.objects.get(pk=user.pk)  # fresh permission cache


def bank_transfers(customer, clerk):
    """One ticket credited, one awaiting a second approval, one overdue, one on time."""
    bank = usd_receiving_account()
    past = timezone.now() - timedelta(days=10)
    credited = make_ticket(customer, bank, bank_reference="FT-CREDITED-1", amount=Money("250.00", "USD"))
    confirm_and_credit(ticket_id=credited.pk, actor=clerk, received=Money("250.00", "USD"), bank_reference="ST-1")
    large = make_ticket(customer, bank, bank_reference="FT-LARGE-1", amount=Money("20000.00", "USD"))
    confirm_and_credit(ticket_id=large.pk, actor=clerk, received=Money("20000.00", "USD"), bank_reference="ST-2")
    submit_ticket(
        account_id=customer.account_id,
        user=customer,
        details=details(bank, bank_reference="FT-LATE-1"),
        certificates=[check_certificate(upload())],
        now=past,
    )
    make_ticket(customer, bank, bank_reference="FT-ONTIME-1")


@pytest.fixture
def broker_queue():
    """The default Celery queue, empty before and after (no worker runs in these tests)."""
    queue = app.conf.task_default_queue
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)
    yield queue
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)


def test_the_page_reports_what_real_actions_did(client, customer, clerk, open_to_token, broker_queue, settings):
    save_card(client)
    turn_on(client)
    spend(customer.account, "40.00", "usage-1")  # 40 USD: below the 50 USD threshold
    assert run_auto_topup(account_id=customer.account_id).status == TopUp.Status.CREDITED
    pay_online_through_the_sandbox(client, "64.00")
    bank_transfers(customer, clerk)
    assert alert_sms(fails=False, settings=settings).status == OutboundSms.Status.SENT
    assert alert_sms(fails=True, settings=settings).status == OutboundSms.Status.FAILED
    for n in range(3):
        app.send_task("tests.metrics.not_a_task", args=[n])

    page = values(scrape(token=TOKEN))

    assert value(page, "billing_credits_total", path="online_topup", currency="USD") == 1
    assert value(page, "billing_credited_amount_total", path="online_topup", currency="USD") == 64.0
    assert value(page, "billing_credits_total", path="auto_topup", currency="USD") == 1
    assert value(page, "billing_credited_amount_total", path="auto_topup", currency="USD") == 100.0
    assert value(page, "billing_credits_total", path="bank_transfer", currency="USD") == 1
    assert value(page, "billing_credited_amount_total", path="bank_transfer", currency="USD") == 250.0
    assert value(page, "billing_topups", method="online_topup", status="credited") == 1
    assert value(page, "billing_topups", method="online_topup", status="pending") == 0
    # Delivered twice and forged once: one event kept (credited), one rejected, three received.
    assert value(page, "billing_webhook_deliveries", gateway="sandbox", verdict="credited") == 1
    assert value(page, "billing_webhook_deliveries", gateway="sandbox", verdict="rejected") == 1
    assert value(page, "billing_webhook_deliveries", gateway="sandbox", verdict="error") == 0
    assert value(page, "billing_webhook_received_total", gateway="sandbox") == 3
    assert value(page, "billing_tickets", status="credited") == 1
    assert value(page, "billing_tickets", status="submitted") == 2
    assert value(page, "billing_tickets", status="under_review") == 1  # the proposal
    assert value(page, "billing_tickets_overdue", status="submitted") == 1
    assert value(page, "billing_tickets_overdue", status="under_review") == 0
    assert value(page, "billing_tickets_awaiting_second_approval") == 1
    assert value(page, "billing_alert_sms", status="sent") == 1
    assert value(page, "billing_alert_sms", status="failed") == 1
    assert value(page, "billing_outbox_messages", channel="sms", status="failed") == 1
    assert value(page, "billing_outbox_messages", channel="sms", status="sent") == 1
    assert value(page, "billing_celery_broker_up") == 1
    assert value(page, "billing_celery_queue_messages", queue=broker_queue) == 3
    for source in settings.METRICS_SOURCES:
        assert value(page, "billing_metrics_source_up", source=source) == 1
    # django-prometheus counted the requests this test made, by view.
    assert any(name == "django_http_requests_total_by_view_transport_method_total" for name, *_ in page)


def test_unsent_outbox_rows_show_as_backlog_with_their_age(open_to_token, settings):
    sms = alert_sms(fails=False, settings=settings)
    OutboundSms.objects.filter(pk=sms.pk).update(status=OutboundSms.Status.PENDING)
    OutboundSms.objects.filter(pk=sms.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    page = values(scrape(token=TOKEN))
    assert value(page, "billing_outbox_messages", channel="sms", status="pending") == 1
    assert 600 <= value(page, "billing_outbox_oldest_unsent_seconds", channel="sms") < 700
    assert value(page, "billing_outbox_oldest_unsent_seconds", channel="email") == 0


def test_the_number_of_queries_does_not_grow_with_the_data(client, customer, clerk, open_to_token, settings):
    with CaptureQueriesContext(connection) as empty:
        values(scrape(token=TOKEN))
    pay_online_through_the_sandbox(client, "64.00")
    bank_transfers(customer, clerk)
    alert_sms(fails=False, settings=settings)
    with CaptureQueriesContext(connection) as full:
        values(scrape(token=TOKEN))
    assert len(full) == len(empty) <= 5, [q["sql"][:80] for q in full.captured_queries]


def test_a_broker_that_is_away_is_reported_and_the_rest_still_answers(open_to_token):
    from tests.helpers import switch_broker

    before = switch_broker("redis://127.0.0.1:9/0", transport_options={"socket_connect_timeout": 0.5})
    try:
        page = values(scrape(token=TOKEN))
    finally:
        switch_broker(*before)
    assert value(page, "billing_celery_broker_up") == 0
    assert not [key for key in page if key[0] == "billing_celery_queue_messages"]
    assert value(page, "billing_metrics_source_up", source="billing_center.metrics.collect_broker") == 1
    assert value(page, "billing_tickets", status="submitted") == 0
