from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    """Bank-transfer tickets with certificates and the three-working-day deadline."""

    name = "tickets"
    verbose_name = _("Transfer tickets")

    def ready(self):
        from accounts import deposits
        from bills import documents

        from .deposits import BankTransferTickets, StatementCredits
        from .invoices import bill_payment_rows

        deposits.register(BankTransferTickets())
        deposits.register(StatementCredits())
        documents.register_payment_details(bill_payment_rows)  # a bill's PDF says where to transfer
