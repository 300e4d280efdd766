import os
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import Account, User

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "billing_center.settings.production",
    "SECRET_KEY": "x7#kq!2m$v9@w4z&p8^r1t6y3u0i5o-l_j+h=g*f%d(s)a[e]c{b}n|m~q",
    "ALLOWED_HOSTS": "billing.example.com",
    "PAYMENT_GATEWAY": "stripe",
    "STRIPE_SECRET_KEY": "sk_live_placeholder",
    "STRIPE_WEBHOOK_SECRET": "whsec_placeholder",
    "SMS_BACKEND": "accounts.sms.twilio.TwilioBackend",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
    "TWILIO_AUTH_TOKEN": "placeholder",
    "TWILIO_FROM_NUMBER": "+15005550006",
}


CLUSTER_PARTS = {
    "CLUSTER": "true",
    "DATABASE_URL": "postgres://billing@db.internal:6432/billing",
    "DATABASE_PGBOUNCER": "true",
    "CELERY_BROKER_URL": "amqp://billing:secret@mq.internal:5672/billing",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "STORAGE_BACKEND": "s3",
    "S3_BUCKET": "billing-documents",
}


def manage(*args, env_overrides: dict, drop: tuple = ()) -> subprocess.CompletedProcess:
    skip = {
        *drop,
        "DJANGO_SETTINGS_MODULE",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "DEMO",
        "DEBUG",
    }  # the test process (or `make`, which exports DEMO for `make run`) sets these; production must not
    env = {k: v for k, v in os.environ.items() if k not in skip}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_wsgi_entry_point_defaults_to_production_settings():
    """A server started without DJANGO_SETTINGS_MODULE must not get DEBUG and the local key."""
    result = subprocess.run(
        [sys.executable, "-c", "import billing_center.wsgi"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY"}},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "Set SECRET_KEY" in result.stderr


def test_production_settings_pass_check_deploy_with_no_warnings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env_overrides=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "overrides, drop, message",
    [
        ({}, ("SECRET_KEY",), "Set SECRET_KEY"),
        ({"SECRET_KEY": "short"}, (), "Set SECRET_KEY"),
        ({"ALLOWED_HOSTS": ""}, (), "ALLOWED_HOSTS"),
        ({"PAYMENT_GATEWAY": "sandbox"}, (), "ALLOW_SANDBOX_GATEWAY"),
        ({"PAYMENT_GATEWAY": "sandbox", "ALLOW_SANDBOX_GATEWAY": "true"}, (), "the built-in one is public"),
        ({"STRIPE_WEBHOOK_SECRET": ""}, (), "STRIPE_WEBHOOK_SECRET"),
        ({"DEBUG": "true"}, (), "DEBUG must be off"),
        ({"DEMO": "true"}, (), "DEMO must be off"),
        ({"SMS_BACKEND": "accounts.sms.console.ConsoleBackend"}, (), "real provider"),
        ({"TWILIO_AUTH_TOKEN": ""}, (), "TWILIO_AUTH_TOKEN"),
        ({"WEBHOOK_ALLOW_LOOPBACK": "true"}, (), "Webhooks in production"),
        ({"WEBHOOK_REQUIRE_HTTPS": "false"}, (), "Webhooks in production"),
        # CLUSTER=true: every node shares the database, broker, documents and cache, or it refuses.
        (CLUSTER_PARTS, ("DATABASE_URL",), "CLUSTER=true refuses single-host parts: SQLite"),
        (CLUSTER_PARTS, ("CELERY_BROKER_URL",), "the file broker"),
        ({**CLUSTER_PARTS, "CELERY_BROKER_URL": "filesystem://"}, (), "the file broker"),
        ({**CLUSTER_PARTS, "STORAGE_BACKEND": "local"}, (), "local storage for default, certificates"),
        (CLUSTER_PARTS, ("STORAGE_BACKEND",), "local storage"),
        (CLUSTER_PARTS, ("REDIS_URL",), "a cache on one host"),
        ({"STORAGE_BACKEND": "s3", "S3_BUCKET": ""}, (), "STORAGE_BACKEND=s3 needs S3_BUCKET"),
    ],
)
def test_production_settings_refuse_to_start_when_misconfigured(overrides, drop, message):
    env = {**PRODUCTION_ENV, **overrides}
    for name in drop:
        env.pop(name)
    result = manage("check", env_overrides=env, drop=drop)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_as_a_cluster_passes_check_deploy_on_shared_services():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env_overrides={**PRODUCTION_ENV, **CLUSTER_PARTS})
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_host_production_keeps_its_local_parts():
    """Without CLUSTER=true, production on one machine may keep SQLite, the file broker and its disk."""
    result = manage("check", env_overrides=PRODUCTION_ENV, drop=("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"))
    assert result.returncode == 0, result.stderr


def test_a_cluster_naming_every_single_host_part_hears_of_all_of_them_at_once():
    env = {**PRODUCTION_ENV, "CLUSTER": "true"}
    result = manage(
        "check", env_overrides=env, drop=("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "STORAGE_BACKEND")
    )
    assert result.returncode != 0
    for part in ("SQLite", "the file broker", "local storage", "a cache on one host"):
        assert part in result.stderr


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_cast_twice_without_doubling(settings, capsys):
    settings.DEMO = True
    call_command("seed_demo")
    call_command("seed_demo")
    cast = {"alice", "bob", "carol", "dave", "erin", "finance", "finance2", "admin"}
    assert set(User.objects.values_list("username", flat=True)) == cast
    alice = User.objects.get(username="alice")
    assert alice.account.type == Account.Type.PREPAID and alice.check_password(settings.DEMO_PASSWORD)
    assert User.objects.get(username="carol").account.enterprise_master.name == "Dave's Enterprise"
    for clerk in ("finance", "finance2"):
        assert User.objects.get(username=clerk).has_perm("tickets.credit_transferticket")
    # One retired and two current receiving accounts; alice's old invoice keeps the retired one.
    from tickets.models import Invoice, ReceivingAccount

    assert (
        ReceivingAccount.objects.count() == 3 and ReceivingAccount.objects.filter(retired_at__isnull=True).count() == 2
    )
    old, new = Invoice.objects.filter(account=alice.account).order_by("issue_date")
    assert not old.receiving_account.is_current and new.receiving_account.is_current
    assert settings.DEMO_PASSWORD in capsys.readouterr().out
    call_command("verify_ledger")


# Today, and the first and last minutes of a month in finance's time zone (Asia/Shanghai).
SEED_MOMENTS = [None, "2027-01-01T00:02:00+08:00", "2027-01-01T00:30:00+08:00", "2026-12-31T23:59:00+08:00"]


@pytest.mark.django_db
@pytest.mark.parametrize("moment", SEED_MOMENTS)
def test_seed_demo_gives_bob_an_issued_bill_and_unbilled_usage_once(settings, moment):
    from bills.models import Bill
    from bills.selectors import postpaid_summary

    settings.DEMO = True
    with time_machine.travel(datetime.fromisoformat(moment) if moment else timezone.now(), tick=False):
        call_command("seed_demo")
        call_command("seed_demo")
        bob = User.objects.get(username="bob").account
        bill = Bill.objects.get(account=bob)
        assert bill.status == Bill.Status.OPEN and bill.amount_due.amount == Decimal("201.55")
        summary = postpaid_summary(bob)
        assert summary.unbilled.amount == Decimal("18.60") and summary.credit_limit.amount == Decimal("1000.00")


@pytest.mark.django_db
def test_seed_demo_refuses_with_demo_off_unless_forced(settings):
    settings.DEMO = False
    with pytest.raises(CommandError, match="DEMO off"):
        call_command("seed_demo")
    call_command("seed_demo", force=True)
    assert User.objects.filter(username="alice").exists()


@pytest.mark.django_db
def test_staff_enrol_an_authenticator_and_the_demo_code_is_for_the_demo_only(settings, capsys):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    staff = User.objects.create_user("fiona", password="x", is_staff=True)
    call_command("add_totp_device", "fiona")
    assert "otpauth://totp/" in capsys.readouterr().out
    assert TOTPDevice.objects.filter(user=staff, confirmed=True).count() == 1
    with pytest.raises(CommandError, match="No staff user"):
        call_command("add_totp_device", "nobody")
    settings.DEMO = False
    with pytest.raises(CommandError, match="Only for the local demo"):
        call_command("demo_otp_code", "fiona")
    settings.DEMO = True
    call_command("demo_otp_code", "fiona")
    assert capsys.readouterr().out.strip().isdigit()
