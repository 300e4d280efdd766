"""Domain errors of transfer tickets; each carries a message a person can act on."""

from accounts.exceptions import BillingError

__all__ = ["BillingError", "CertificateRejected", "TicketStateError", "TicketNotAllowed"]


class CertificateRejected(BillingError):
    """An uploaded certificate that is not a clean PDF, PNG or JPEG within the limits."""

    code = "certificate_rejected"


class TicketStateError(BillingError):
    """An action that the ticket's current status does not allow (e.g. crediting a rejected ticket)."""

    code = "ticket_state"


class TicketNotAllowed(BillingError):
    """The acting user may not do this to this ticket (e.g. approving a credit they proposed)."""

    code = "ticket_not_allowed"
