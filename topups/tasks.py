from celery import shared_task


@shared_task(name="topups.tasks.reconcile_pending_topups")
def reconcile_pending_topups() -> dict:
    from .reconcile import reconcile_pending_topups as reconcile

    return reconcile()


@shared_task(name="topups.tasks.refresh_exchange_rates")
def refresh_exchange_rates() -> str:
    from money.rates import refresh_rates

    return refresh_rates()


@shared_task(name="topups.tasks.run_auto_topup", acks_late=True)
def run_auto_topup(account_id: int) -> None:
    from .auto_topup import run_auto_topup as run

    run(account_id=account_id)


@shared_task(name="topups.tasks.sweep_auto_topups")
def sweep_auto_topups() -> int:
    from .auto_topup import sweep_auto_topups as sweep

    return sweep()


@shared_task(name="topups.tasks.apply_deliveries", acks_late=True)
def apply_deliveries() -> dict:
    """Credit stored webhook deliveries in batches (published after commit, once per burst: topups.wake)."""
    from .batches import apply_deliveries as apply

    return apply()


@shared_task(name="topups.tasks.sweep_deliveries")
def sweep_deliveries(older_than_seconds: int = 60) -> int:
    """Nothing stays received: publish the batch task when deliveries wait longer than they should
    (a lost message, a worker that died), and put failed ones back in line."""
    from .deliveries import retry_stale_deliveries
    from .wake import publish_batch_task

    waiting = retry_stale_deliveries(older_than_seconds=older_than_seconds)
    if waiting:
        publish_batch_task()  # regardless of the wake flag: it may stand for a lost message
    return waiting


@shared_task(name="topups.tasks.purge_rejected_deliveries")
def purge_rejected_deliveries() -> int:
    from .deliveries import purge_rejected_deliveries as purge

    return purge()
