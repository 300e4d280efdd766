"""Celery tasks: thin wrappers over services."""

from celery import shared_task


@shared_task(name="tickets.tasks.flag_ticket_deadlines")
def flag_ticket_deadlines() -> dict[str, int]:
    from .deadlines import flag_ticket_deadlines as flag

    return flag()


@shared_task(name="tickets.tasks.purge_held_certificates")
def purge_held_certificates() -> int:
    from .held_certificates import purge_held_certificates as purge

    return purge()
