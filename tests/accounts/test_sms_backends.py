"""Every SMS backend keeps the one contract: send(to, text, idempotency_key) -> provider id, or SmsError."""

import base64
import json
import logging
import re

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from accounts.sms import SmsError, get_backend
from accounts.sms import memory as memory_module
from accounts.sms.console import ConsoleBackend
from accounts.sms.file import FileBackend
from accounts.sms.memory import MemoryBackend
from accounts.sms.twilio import TwilioBackend
from tests.fakes.twilio import FakeTwilio

TO = "+8613800138000"
TOKEN = "tok_secret_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


@pytest.fixture
def outbox():
    memory_module.outbox.clear()
    yield memory_module.outbox
    memory_module.outbox.clear()


@pytest.fixture
def twilio(settings):
    with FakeTwilio(auth_token=TOKEN) as fake:
        fake.configure(settings)
        settings.SMS_BACKEND = "accounts.sms.twilio.TwilioBackend"
        yield fake


def send(text: str = "Your balance is low: 12.00 USD left.", to: str = TO, key: str = "alert-1") -> str:
    return get_backend().send(to, text, idempotency_key=key)


# --- Choosing a backend ------------------------------------------------------------------


def test_the_console_backend_is_the_default(settings):
    del settings.SMS_BACKEND
    assert isinstance(get_backend(), ConsoleBackend)


def test_the_backend_setting_is_read_on_every_call(settings, tmp_path):
    settings.SMS_BACKEND = "accounts.sms.memory.MemoryBackend"
    assert isinstance(get_backend(), MemoryBackend)
    settings.SMS_BACKEND = "accounts.sms.file.FileBackend"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    assert isinstance(get_backend(), FileBackend)


def test_an_unknown_backend_fails_loudly(settings):
    settings.SMS_BACKEND = "accounts.sms.nowhere.Backend"
    with pytest.raises(ImportError):
        get_backend()


# --- Console ----------------------------------------------------------------------------------


def test_console_prints_one_line_and_logs_with_the_number_masked(settings, capsys, caplog):
    settings.SMS_BACKEND = "accounts.sms.console.ConsoleBackend"
    caplog.set_level(logging.INFO, logger="accounts.sms")

    message_id = send("Balance low.\nTop up at https://billing.example/")

    assert re.fullmatch(r"console-[0-9a-f]{32}", message_id)
    assert capsys.readouterr().out == f"SMS to {TO}: Balance low.\\nTop up at https://billing.example/\n"
    [record] = [r for r in caplog.records if r.name == "accounts.sms"]
    assert record.levelno == logging.INFO
    assert message_id in record.getMessage()
    assert "+86 **** 8000" in record.getMessage()
    assert TO not in record.getMessage()


# --- File ---------------------------------------------------------------------------------------


def test_file_appends_one_json_line_per_message_creating_folders(settings, tmp_path):
    path = tmp_path / "outbox" / "nested" / "sms.jsonl"
    settings.SMS_BACKEND = "accounts.sms.file.FileBackend"
    settings.SMS_FILE_PATH = str(path)

    first = send("余额不足：剩余 12.00 CNY")
    second = send("Second alert", to="+447400123456", key="alert-2")

    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == [first, second]
    assert all(re.fullmatch(r"file-[0-9a-f]{32}", line["id"]) for line in lines)
    assert lines[0]["to"] == TO and lines[0]["text"] == "余额不足：剩余 12.00 CNY"
    assert lines[1]["to"] == "+447400123456"
    assert set(lines[0]) == {"id", "to", "text", "sent_at"}
    assert lines[0]["sent_at"].endswith("+00:00")


def test_file_backend_needs_a_path(settings):
    settings.SMS_BACKEND = "accounts.sms.file.FileBackend"
    settings.SMS_FILE_PATH = None
    with pytest.raises(ImproperlyConfigured, match="SMS_FILE_PATH"):
        get_backend()


# --- Memory -------------------------------------------------------------------------------------


def test_memory_keeps_every_send_including_repeats(settings, outbox):
    settings.SMS_BACKEND = "accounts.sms.memory.MemoryBackend"

    first = send(key="alert-1")
    repeat = send(key="alert-1")

    assert first != repeat
    assert re.fullmatch(r"mem-\d+", first)
    assert outbox == [
        {"id": first, "to": TO, "text": "Your balance is low: 12.00 USD left.", "idempotency_key": "alert-1"},
        {"id": repeat, "to": TO, "text": "Your balance is low: 12.00 USD left.", "idempotency_key": "alert-1"},
    ]


# --- Twilio: success ---------------------------------------------------------------------------


def test_twilio_returns_the_message_sid_and_sends_what_twilio_documents(twilio):
    sid = send(key="alert-42")

    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    assert sid == twilio.resources[0]["sid"] and twilio.resources[0]["status"] == "queued"
    assert twilio.messages == [{"To": TO, "Body": "Your balance is low: 12.00 USD left.", "From": "+15005550006"}]
    [request] = twilio.requests
    assert request["url"] == f"https://api.twilio.com/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
    credentials = base64.b64encode(f"{twilio.account_sid}:{TOKEN}".encode()).decode()
    assert request["headers"]["Authorization"] == f"Basic {credentials}"
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert request["headers"]["I-Twilio-Idempotency-Token"] == "alert-42"
    assert request["timeout"] == (3, 10)


def test_twilio_sends_through_a_messaging_service_instead_of_a_number_when_one_is_set(twilio, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "0" * 32

    sid = send()

    assert twilio.messages == [
        {"To": TO, "Body": "Your balance is low: 12.00 USD left.", "MessagingServiceSid": "MG" + "0" * 32}
    ]
    assert twilio.resources[0]["sid"] == sid and twilio.resources[0]["status"] == "accepted"


def test_twilio_api_base_can_point_elsewhere(settings):
    with FakeTwilio(api_base="https://twilio-proxy.internal.example/") as fake:
        fake.configure(settings)
        settings.SMS_BACKEND = "accounts.sms.twilio.TwilioBackend"
        sid = send()
    assert fake.requests[0]["url"].startswith("https://twilio-proxy.internal.example/2010-04-01/")
    assert sid == fake.resources[0]["sid"]


# --- Twilio: failures ---------------------------------------------------------------------------


def test_an_invalid_number_is_not_retryable_and_carries_twilios_code(twilio):
    with pytest.raises(SmsError) as failed:
        send(to="8613800138000")
    assert failed.value.retryable is False
    assert "21211" in str(failed.value) and "Invalid 'To' Phone Number" in str(failed.value)
    assert twilio.messages == []


def test_bad_credentials_are_not_retryable(twilio, settings):
    settings.TWILIO_AUTH_TOKEN = "tok_wrong_00000000000000000000000000"
    with pytest.raises(SmsError) as failed:
        send()
    assert failed.value.retryable is False
    assert "401" in str(failed.value) and "20003" in str(failed.value)
    assert "tok_wrong" not in str(failed.value)


@pytest.mark.parametrize(("status", "code"), [(429, "20429"), (500, "20500"), (503, "20503")])
def test_rate_limits_and_server_errors_are_retryable_and_a_retry_succeeds(twilio, status, code):
    twilio.fail_next(status=status)
    with pytest.raises(SmsError) as failed:
        send()
    assert failed.value.retryable is True
    assert str(status) in str(failed.value) and code in str(failed.value)

    assert re.fullmatch(r"SM[0-9a-f]{32}", send())
    assert len(twilio.messages) == 1


@pytest.mark.parametrize(
    "error",
    [requests.ConnectionError("Connection refused"), requests.ConnectTimeout("connect"), requests.ReadTimeout("read")],
)
def test_not_reaching_twilio_is_retryable(twilio, error):
    twilio.fail_next(error=error)
    with pytest.raises(SmsError) as failed:
        send()
    assert failed.value.retryable is True
    assert type(error).__name__ in str(failed.value)


def test_fail_next_counts_down(twilio):
    twilio.fail_next(2, status=500)
    for _ in range(2):
        with pytest.raises(SmsError):
            send()
    send()
    assert len(twilio.messages) == 1


@pytest.mark.parametrize(
    "arrange",
    [
        lambda fake, settings: fake.fail_next(status=500),
        lambda fake, settings: fake.fail_next(status=429),
        lambda fake, settings: fake.fail_next(error=requests.ConnectionError(f"refused {TOKEN}")),
        lambda fake, settings: setattr(settings, "TWILIO_ACCOUNT_SID", "AC" + "f" * 32),
        lambda fake, settings: None,
    ],
    ids=["500", "429", "connection-error", "401", "success"],
)
def test_the_auth_token_never_reaches_errors_or_logs(twilio, settings, caplog, arrange):
    caplog.set_level(logging.DEBUG)
    arrange(twilio, settings)
    try:
        send()
    except SmsError as failed:
        assert TOKEN not in str(failed) and TOKEN not in repr(failed)
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(TwilioBackend())


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("TWILIO_ACCOUNT_SID", "TWILIO_ACCOUNT_SID"),
        ("TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN"),
        ("TWILIO_FROM_NUMBER", "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID"),
    ],
)
def test_twilio_refuses_to_start_without_its_settings(twilio, settings, missing, named):
    setattr(settings, missing, "")
    with pytest.raises(ImproperlyConfigured, match=named) as refused:
        get_backend()
    assert TOKEN not in str(refused.value)


def test_twilio_settings_may_be_absent_altogether(settings):
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "TWILIO_MESSAGING_SERVICE_SID"):
        if hasattr(settings, name):
            delattr(settings, name)
    with pytest.raises(ImproperlyConfigured):
        TwilioBackend()
