from celery import shared_task


@shared_task(name="bills.tasks.close_billing_month")
def close_billing_month() -> int:
    from .cycle import close_billing_month as close

    return len(close())


@shared_task(name="bills.tasks.send_bill_reminders")
def send_bill_reminders() -> int:
    from .reminders import send_bill_reminders as send

    return send()
