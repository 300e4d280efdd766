from django.apps import AppConfig


class TicketsConfig(AppConfig):
    """Bank-transfer tickets with certificates and the three-working-day deadline (issue #4)."""

    name = "tickets"
    verbose_name = "Transfer tickets"
