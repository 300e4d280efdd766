"""Errors of transfer tickets; the kinds (Invalid, Refused, …) are in money.errors."""

from django.utils.translation import gettext as _

from money.errors import Conflict, Invalid, Refused, Unavailable


class CertificateRejected(Invalid):
    """An uploaded certificate that is not a clean PDF, PNG or JPEG within the limits."""

    code = "certificate_rejected"


class TicketStateError(Conflict):
    """An action that the ticket's current status does not allow (e.g. crediting a rejected ticket)."""

    code = "ticket_state"


class TicketAlreadySubmitted(Conflict):
    """The Create Service Ticket page was sent before (its one-time key): it is this ticket."""

    code = "ticket_already_submitted"

    def __init__(self, ticket):
        super().__init__(_("Ticket %(number)s was submitted from this page already.") % {"number": ticket.number})
        self.ticket = ticket


class TicketNotAllowed(Refused):
    """The acting user may not do this to this ticket (e.g. approving a credit they proposed)."""

    code = "ticket_not_allowed"


class CertificateStorageUnavailable(Unavailable):
    """The certificate store did not take the file: nothing was written, try again later."""

    code = "certificate_storage_unavailable"
