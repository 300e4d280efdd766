"""Celery tasks: thin wrappers over services, passed ids, safe to run twice. Each has its
name spelled out: beat entries and queued messages carry it, so moving code never renames a task."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="accounts.tasks.record_worker_heartbeat")
def record_worker_heartbeat() -> None:
    from billing_center.health import record_worker_heartbeat as record

    record()


@shared_task(name="accounts.tasks.send_email", bind=True, max_retries=8, acks_late=True)
def send_email(self, email_id: int) -> None:
    from .notifications import deliver_email  # imported here: notifications import these tasks

    _send_or_retry(self, lambda: deliver_email(email_id=email_id), backoff_seconds=10, longest_wait=3600)


@shared_task(name="accounts.tasks.send_emails", acks_late=True)
def send_emails(email_ids: list[int]) -> int:
    """Many queued e-mails in one task (a statement's credits); one that fails is recorded on
    its row, and the periodic resend tries it again."""
    from .notifications import deliver_emails

    return deliver_emails(email_ids)


@shared_task(name="accounts.tasks.deliver_webhooks", acks_late=True)
def deliver_webhooks(endpoint_id: int) -> int:
    from .outbound_webhooks.delivery import deliver_endpoint

    return deliver_endpoint(endpoint_id)


@shared_task(name="accounts.tasks.sweep_webhooks")
def sweep_webhooks() -> int:
    """Beat's sweep: endpoints with a delivery due whose wake-up was lost (broker away, worker killed)."""
    from .outbound_webhooks.delivery import due_endpoint_ids
    from .outbound_webhooks.events import wake

    due = due_endpoint_ids()
    wake(due)
    return len(due)


@shared_task(name="accounts.tasks.resend_pending_emails")
def resend_pending_emails(older_than_seconds: int = 60) -> int:
    """Beat's sweep; after an outage an operator may call it with older_than_seconds=0."""
    from .notifications import deliver_emails, pending_email_ids

    return deliver_emails(pending_email_ids(older_than_seconds=older_than_seconds))


@shared_task(name="accounts.tasks.check_balance_alert", acks_late=True)
def check_balance_alert(account_id: int) -> None:
    from .alerts import check_balance_alert as check

    check(account_id=account_id)


@shared_task(name="accounts.tasks.send_sms", bind=True, max_retries=5, acks_late=True)
def send_sms(self, sms_id: int) -> None:
    """Late acknowledgement: a worker killed mid-send leaves the task to be redelivered."""
    from .notifications import deliver_sms

    _send_or_retry(self, lambda: deliver_sms(sms_id=sms_id), backoff_seconds=15, longest_wait=1800)


@shared_task(name="accounts.tasks.resend_pending_sms")
def resend_pending_sms(older_than_seconds: int = 60) -> int:
    from .notifications import deliver_many_sms, pending_sms_ids

    return deliver_many_sms(pending_sms_ids(older_than_seconds=older_than_seconds))


@shared_task(name="accounts.tasks.sweep_balance_alerts")
def sweep_balance_alerts() -> int:
    from .alerts import sweep_balance_alerts as sweep

    return sweep()


@shared_task(name="accounts.tasks.flag_budget_overruns")
def flag_budget_overruns() -> int:
    from .budgets import flag_budget_overruns as flag

    return flag()


def _send_or_retry(task, deliver, *, backoff_seconds: int, longest_wait: int) -> None:
    """Deliver one outbox row for a send task. A permanent refusal is final (recorded on the
    row); a fresh claim by another worker is waited out until its lease ends; anything else
    is retried with exponential backoff."""
    from .outbox import ClaimedElsewhere, PermanentFailure

    try:
        deliver()
    except PermanentFailure:
        return
    except ClaimedElsewhere as exc:
        raise task.retry(exc=exc, countdown=exc.retry_in + 1) from exc
    except Exception as exc:
        raise task.retry(exc=exc, countdown=min(2**task.request.retries * backoff_seconds, longest_wait)) from exc
