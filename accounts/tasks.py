from celery import shared_task


@shared_task
def record_worker_heartbeat() -> None:
    from billing_center.health import record_worker_heartbeat as record

    record()
