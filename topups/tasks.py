from celery import shared_task


@shared_task(name="topups.tasks.reconcile_pending_topups")
def reconcile_pending_topups() -> dict:
    from .reconcile import reconcile_pending_topups as reconcile

    return reconcile()


@shared_task(name="topups.tasks.refresh_exchange_rates")
def refresh_exchange_rates() -> str:
    from money.rates import refresh_rates

    return refresh_rates()
