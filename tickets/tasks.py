"""Celery tasks: thin wrappers over services."""

from celery import shared_task

from . import services


@shared_task
def flag_ticket_deadlines() -> dict[str, int]:
    return services.flag_ticket_deadlines()
