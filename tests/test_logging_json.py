"""Logs as JSON lines (LOG_FORMAT=json) with a request id that follows the request into the Celery
tasks it queues, on a real worker; secrets and phone numbers still redacted; plain stays the default."""

import copy
import io
import json
import logging
import logging.config
import re

import pytest
from django.utils.log import configure_logging
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from accounts.models import OutboundSms
from accounts.usage_api.tokens import create_service_token
from tests.accounts.test_alert_delivery import NUMBER, alerting_account
from tests.conftest import wait_for
from tests.draining import drain
from tests.test_settings_and_commands import manage

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines(settings):
    """The product's logging with the console handler as LOG_FORMAT=json sets it, writing to a
    buffer. Returns a function giving the lines written so far, each parsed (so each must be JSON).

    Celery's worker sets logging up when it starts: a test with the celery_worker fixture must ask
    for it before this one."""
    stream = io.StringIO()
    config = copy.deepcopy(settings.LOGGING)
    config["handlers"]["console"].update(formatter="json", stream=stream)
    logging.config.dictConfig(config)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


@pytest.mark.django_db
def test_a_requests_log_lines_carry_its_id_and_the_answer_echoes_it(client, json_lines):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="lb-7f3a9c2e-0001")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "lb-7f3a9c2e-0001"
    [line] = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["message"] == "Not Found: /no-such-page/"
    assert line["request_id"] == "lb-7f3a9c2e-0001"
    assert line["level"] == "WARNING"
    assert line["status_code"] == 404
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["time"])
    assert "request" not in line  # the request object is not dumped into the log


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["", "has space", "x" * 129, 'quote"', "-leading-dash", "ünïcode", "a\tb"])
def test_an_incoming_id_that_is_not_well_formed_is_replaced_by_our_own(client, json_lines, incoming):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=incoming)
    request_id = response["X-Request-ID"]
    assert GENERATED.fullmatch(request_id)
    [line] = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["request_id"] == request_id


@pytest.mark.django_db
def test_each_request_has_its_own_id_and_none_outlives_it(client, json_lines):
    first = client.get("/no-such-page/")["X-Request-ID"]
    second = client.get("/no-such-page/")["X-Request-ID"]
    assert first != second
    logging.getLogger("billing.test").warning("after the requests")
    ids = [(line["message"], line["request_id"]) for line in json_lines()]
    assert ids == [
        ("Not Found: /no-such-page/", first),
        ("Not Found: /no-such-page/", second),
        ("after the requests", None),
    ]


def sms_lines(lines: list[dict]) -> dict[str, str | None]:
    """The console SMS backend's log lines, by account name: {name: request_id}."""
    found = {}
    for line in lines:
        if line["logger"] == "accounts.sms":
            found[re.search(r"Billing Center: (.+?) balance is", line["message"])[1]] = line["request_id"]
    return found


@pytest.mark.django_db(transaction=True)
def test_a_task_queued_by_a_request_and_the_task_it_queues_log_under_its_id_in_a_real_worker(
    celery_worker, json_lines, client, settings
):
    """A metering charge crosses the alert threshold: the request publishes the alert check, the
    worker runs it and publishes the SMS, the worker sends it and logs the SMS under the charge
    request's id (two hops: the request's header, then the check task's). Another crossing posted
    afterwards outside any request is checked and texted under no id: nothing is left over."""
    settings.SMS_BACKEND = "accounts.sms.console.ConsoleBackend"
    account = alerting_account(balance="100.00", threshold="50.00")
    token = create_service_token(service="metering", name="Metering")[1]
    # Setting the alert published checks of its own, outside any request: had one of them run after
    # the charge, it would rightly be the one that texts, under no id.
    drain()
    charge = {"account": account.pk, "amount": "60.00", "currency": "USD", "idempotency_key": "k1"}
    response = client.post(
        "/api/v1/charges",
        data=json.dumps(charge),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_X_REQUEST_ID="charge-req-42",
    )
    assert response.status_code == 201
    assert response["X-Request-ID"] == "charge-req-42"
    assert wait_for(lambda: OutboundSms.objects.filter(account=account, status="sent").exists())
    drain()

    other = alerting_account(balance="100.00", threshold="50.00")
    drain()
    post_ledger_entry(account_id=other.pk, amount=Money("-60.00", "USD"), kind="usage", source_ref="outside")
    assert wait_for(lambda: OutboundSms.objects.filter(account=other, status="sent").exists())
    drain()

    lines = json_lines()
    assert sms_lines(lines) == {account.name: "charge-req-42", other.name: None}
    assert "+86 **** 8000" in next(line["message"] for line in lines if line["logger"] == "accounts.sms")
    assert not [line for line in lines if NUMBER in json.dumps(line)]


def test_json_lines_keep_secrets_and_phone_numbers_out(json_lines, settings):
    settings.STRIPE_SECRET_KEY = "sk_live_do_not_log_me_123"
    settings.TWILIO_AUTH_TOKEN = 'twilio"token\\with-quotes'
    logger = logging.getLogger("billing.test")
    try:
        raise RuntimeError(f"gateway refused key {settings.STRIPE_SECRET_KEY}")
    except RuntimeError:
        logger.exception(
            "SMS to %s failed via %s (%s) %s",
            "+8613800138000",
            "redis://:hunter2-broker-pass@cache.internal:6379/0",
            "Authorization: Bearer bc_live_0123456789abcdef",
            settings.TWILIO_AUTH_TOKEN,
            extra={"to": "+8613800138000", "detail": {"key": settings.STRIPE_SECRET_KEY}},
        )
    [line] = json_lines()
    text = json.dumps(line)
    for leaked in ("8613800138000", "hunter2-broker-pass", "bc_live_0123456789abcdef", "sk_live_do_not_log_me_123"):
        assert leaked not in text
    assert "twilio" not in text
    assert "+86 **** 8000" in line["message"] and "redis://:***@cache.internal" in line["message"]
    assert line["to"] == "+86 **** 8000"
    assert line["detail"] == {"key": "[secret]"}
    assert "Traceback" in line["exc_info"] and "gateway refused key [secret]" in line["exc_info"]


ONE_LINE = "import logging; logging.getLogger('billing.check').warning('texting %s', '+8613800138000')"


def test_log_format_json_makes_a_process_log_json_lines():
    result = manage("shell", "-c", ONE_LINE, env_overrides={"LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    [line] = [json.loads(text) for text in result.stderr.splitlines() if "billing.check" in text]
    assert line["logger"] == "billing.check" and line["level"] == "WARNING"
    assert line["message"] == "texting +86 **** 8000"
    assert line["request_id"] is None


def test_the_console_stays_readable_by_default_and_a_wrong_format_is_refused():
    plain = manage("shell", "-c", ONE_LINE, env_overrides={}, drop=("LOG_FORMAT",))
    assert plain.returncode == 0, plain.stderr
    assert re.search(r"^\S+ \S+ WARNING billing.check: texting \+86 \*\*\*\* 8000$", plain.stderr, re.M)
    wrong = manage("check", env_overrides={"LOG_FORMAT": "xml"})
    assert wrong.returncode != 0 and "LOG_FORMAT must be plain or json" in wrong.stderr


@pytest.mark.django_db
def test_a_refusal_is_one_line_without_a_traceback_and_a_fault_keeps_its(client, json_lines):
    """Every 403 (a clerk without the permission) had written a full traceback, like a fault."""
    from tests.factories import UserFactory
    from tests.helpers import staff_login

    staff_login(client, UserFactory(is_staff=True, account=None))  # signed in, with no permission at all
    assert client.get("/admin/tickets/transferticket/").status_code == 403
    refusals = [line for line in json_lines() if line["logger"] == "django.request"]
    assert [line["status_code"] for line in refusals] == [403]
    assert "exc_info" not in refusals[0] and "Traceback" not in json.dumps(refusals)
    logging.getLogger("django.request").error("boom", exc_info=ValueError("fault"), extra={"status_code": 500})
    assert "ValueError" in json.dumps(json_lines()[-1])


@pytest.mark.django_db
def test_a_host_header_not_ours_is_one_warning_line_not_an_error_with_a_traceback(client, json_lines):
    """Anyone can send one: each had been an ERROR with Django's traceback, alerting like a fault."""
    assert client.get("/login/", HTTP_HOST="evil.example").status_code == 400
    [line] = [line for line in json_lines() if line["logger"] == "django.security.DisallowedHost"]
    assert line["level"] == "WARNING" and "evil.example" in line["message"]
    assert "exc_info" not in line and "Traceback" not in json.dumps(line)
