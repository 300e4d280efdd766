from celery import shared_task


@shared_task
def reconcile_pending_topups() -> dict:
    from .reconcile import reconcile_pending_topups as reconcile

    return reconcile()


@shared_task
def refresh_exchange_rates() -> str:
    from money.rates import refresh_rates

    return refresh_rates()
