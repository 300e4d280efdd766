"""Credit e-mails go through an outbox row written in the credit's own transaction."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import OutboundEmail
from accounts.notifications import deliver_email
from accounts.outbox import ClaimedElsewhere
from accounts.tasks import resend_pending_emails, send_emails
from tests.conftest import wait_for
from tests.draining import drain
from tests.factories import PendingTopUpFactory, UserFactory
from tests.fakes.stripe import event, paid_session, post_webhook, signed
from tests.helpers import failing_writes


def payer_topup():
    user = UserFactory(email="payer@example.com", first_name="Pat")
    return PendingTopUpFactory(account=user.account, created_by=user)


@pytest.mark.django_db(transaction=True)
def test_a_credit_sends_one_email_through_a_real_worker_however_often_it_is_notified(
    client, stripe_settings, celery_worker, mailoutbox
):
    topup = payer_topup()
    payload = event("checkout.session.completed", paid_session(topup))
    for _ in range(3):
        assert post_webhook(client, *signed(payload)).status_code == 200
    post_webhook(client, *signed(event("checkout.session.async_payment_succeeded", paid_session(topup))))

    assert wait_for(lambda: OutboundEmail.objects.filter(status="sent").exists())
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["payer@example.com"]
    assert topup.reference in mail.subject and "100.00 USD" in mail.subject
    assert f"/billing/topups/{topup.public_id}/receipt/" in mail.body and "&#x27;" not in mail.body
    assert OutboundEmail.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_credit_queues_and_sends_nothing(client, stripe_settings, celery_worker, mailoutbox):
    """The worker's transaction fails after the e-mail was queued: a real trigger refuses the
    delivery's final update."""
    topup = payer_topup()
    with failing_writes("topups_webhookdelivery", "UPDATE", "delivery store down"):
        response = post_webhook(client, *signed(event("checkout.session.completed", paid_session(topup))))
        assert response.status_code == 200
        drain(what="the worker crediting the stored delivery")
    topup.refresh_from_db()
    assert topup.status == "pending" and not OutboundEmail.objects.exists()
    resend_pending_emails.delay(older_than_seconds=0)
    drain(what="the worker running the e-mail sweep")
    assert mailoutbox == []


@pytest.mark.django_db
def test_an_email_whose_task_was_lost_is_sent_by_the_sweep_once(mailoutbox):
    email = OutboundEmail.objects.create(dedupe_key="k1", to="a@example.com", subject="s", body="b")
    OutboundEmail.objects.filter(pk=email.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert resend_pending_emails() == 1
    assert resend_pending_emails() == 0
    deliver_email(email_id=email.pk)  # a late duplicate task
    assert len(mailoutbox) == 1
    email.refresh_from_db()
    assert email.status == "sent" and email.attempts == 1


@pytest.mark.django_db
def test_a_fresh_claim_is_respected_and_a_dead_workers_claim_is_taken_over(mailoutbox):
    now = timezone.now()
    email = OutboundEmail.objects.create(
        dedupe_key="k2", to="a@example.com", subject="s", body="b", status="sending", claimed_at=now
    )
    with pytest.raises(ClaimedElsewhere) as claimed:  # the task retries when the lease runs out
        deliver_email(email_id=email.pk, now=now + timedelta(minutes=1))
    assert mailoutbox == [] and claimed.value.retry_in == pytest.approx(60)
    deliver_email(email_id=email.pk, now=now + timedelta(minutes=6))
    assert len(mailoutbox) == 1


@pytest.mark.django_db
def test_a_failing_mail_server_leaves_the_email_pending_then_failed(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1  # nothing listens on port 1
    email = OutboundEmail.objects.create(dedupe_key="k3", to="a@example.com", subject="s", body="b")
    with pytest.raises(OSError):
        deliver_email(email_id=email.pk)
    email.refresh_from_db()
    assert email.status == "pending" and email.attempts == 1 and "Connection refused" in email.last_error
    OutboundEmail.objects.filter(pk=email.pk).update(attempts=7)
    with pytest.raises(OSError):
        deliver_email(email_id=email.pk)
    email.refresh_from_db()
    assert email.status == "failed"


def queued(key: str, **fields) -> OutboundEmail:
    return OutboundEmail.objects.create(dedupe_key=key, to=f"{key}@example.com", subject=key, body="b", **fields)


@pytest.mark.django_db
def test_a_batch_of_receipts_sends_each_waiting_email_once_and_leaves_the_others(mailoutbox):
    """A batch's receipts go out in one task: rows already sent, or freshly claimed by another
    worker, are not sent again; a task delivered twice sends nothing the second time."""
    now = timezone.now()
    first, second = queued("first"), queued("second")
    sent = queued("sent", status="sent", sent_at=now, attempts=1)
    elsewhere = queued("elsewhere", status="sending", claimed_at=now, attempts=1)
    ids = [first.pk, second.pk, sent.pk, elsewhere.pk]

    assert send_emails(ids) == 2
    assert send_emails(ids) == 0  # a redelivered task message

    assert sorted(mail.to[0] for mail in mailoutbox) == ["first@example.com", "second@example.com"]
    states = dict(OutboundEmail.objects.values_list("dedupe_key", "status"))
    assert states == {"first": "sent", "second": "sent", "sent": "sent", "elsewhere": "sending"}
    first.refresh_from_db()
    assert first.attempts == 1 and first.sent_at is not None and first.last_error == ""


@pytest.mark.django_db
def test_a_batch_that_cannot_reach_the_mail_server_records_each_attempt_for_the_sweep(settings, mailoutbox):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1  # nothing listens on port 1
    first, last_try = queued("first"), queued("last-try", attempts=7)

    assert send_emails([first.pk, last_try.pk]) == 0

    first.refresh_from_db()
    last_try.refresh_from_db()
    assert first.status == "pending" and first.attempts == 1 and "Connection refused" in first.last_error
    assert last_try.status == "failed" and last_try.attempts == 8 and last_try.sent_at is None

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"  # the server is back
    OutboundEmail.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert resend_pending_emails() == 1
    assert [mail.to for mail in mailoutbox] == [["first@example.com"]]
    first.refresh_from_db()
    assert first.status == "sent" and first.attempts == 2 and first.last_error == ""


@pytest.mark.django_db
def test_a_batch_on_a_slow_mail_server_never_sends_on_a_claim_older_than_half_the_lease(settings, mailoutbox):
    """With a 2 s lease and 0.4 s per message, the first claim covers about three sends; the rest
    are handed back and claimed afresh, so no claim can expire (and be taken over by the sweep)
    while its row is being sent."""
    settings.EMAIL_BACKEND = "tests.fakes.mail.SlowEmailBackend"
    settings.OUTBOX_CLAIM_LEASE_SECONDS = 2
    ids = [queued(f"slow-{n}").pk for n in range(6)]

    assert send_emails(ids) == 6

    assert sorted(mail.to[0] for mail in mailoutbox) == [f"slow-{n}@example.com" for n in range(6)]
    rows = list(OutboundEmail.objects.order_by("pk"))
    assert {(row.status, row.attempts) for row in rows} == {("sent", 1)}
    claims = sorted({row.claimed_at for row in rows})
    assert len(claims) >= 2  # handed back and claimed again
    for row in rows:  # each was sent within half a lease of its own claim
        assert (row.sent_at - row.claimed_at).total_seconds() < 1 + 0.4 + 0.3


@pytest.mark.django_db(transaction=True)
def test_a_database_connection_dropped_mid_batch_still_records_what_was_sent_once(settings, mailoutbox):
    """PostgreSQL dropped the worker's connection after the batch's mails went out (a restart, a
    failover): their outcomes are written on a new connection. They had stayed "sending" until the
    lease ran out, when the sweep took them over and sent every one a second time."""
    from django.db import connection

    from accounts.notifications import deliver_emails, pending_email_ids
    from tests.conftest import require
    from tests.fakes import mail as fake_mail

    require(connection.vendor == "postgresql", "PostgreSQL (the connection is dropped by the server)")
    settings.EMAIL_BACKEND = "tests.fakes.mail.DroppingEmailBackend"
    emails = [
        OutboundEmail.objects.create(dedupe_key=f"drop-{i}", to=f"u{i}@example.com", subject="s", body="b")
        for i in range(3)
    ]
    fake_mail.drop_connection_on_next_send()
    assert deliver_emails([email.pk for email in emails]) == 3
    assert not fake_mail.ARMED["once"]  # the connection was dropped, mid-batch
    assert set(OutboundEmail.objects.values_list("status", flat=True)) == {"sent"}
    later = timezone.now() + timedelta(hours=1)  # past any lease: the sweep finds nothing to send again
    assert deliver_emails(pending_email_ids(older_than_seconds=0, now=later), now=later) == 0
    assert len(mailoutbox) == 3
