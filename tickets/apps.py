from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    """Bank-transfer tickets with certificates and the three-working-day deadline."""

    name = "tickets"
    verbose_name = _("Transfer tickets")

    def ready(self):
        from accounts import deposits

        from .deposits import BankTransferTickets, StatementCredits

        deposits.register(BankTransferTickets())
        deposits.register(StatementCredits())
