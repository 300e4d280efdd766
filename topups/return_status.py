"""What the return page says about a top-up, as one state word and one headline.

The page (`topups/detail.html`) and the JSON its script polls (`topups.views.topup_status`)
read the same state, so the script knows when the page is out of date. The page does not
reload itself (a person cannot stop that, WCAG 2.2.1): while a state is in POLL_EVERY_MS,
`static/js/topup-status.js` asks for the state and updates the page once it changes.
"""

from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from .models import TopUp

# States the page keeps asking about, and how often (milliseconds).
POLL_EVERY_MS = {"opening": 1000, "waiting": 3000}
# A double click's second request lands on the page while the first still opens the checkout.
OPENING_FOR = timedelta(minutes=2)


def page_state(topup: TopUp, *, now: datetime, cancelled: bool = False) -> str:
    """credited, opening, cancelled (the customer left the gateway's page), waiting, unpaid, or closed."""
    if topup.status == TopUp.Status.CREDITED:
        return "credited"
    if not topup.is_pending:
        return "closed"
    if not topup.checkout_url and now - topup.created_at < OPENING_FOR:
        return "opening"
    if cancelled:
        return "cancelled"
    return "waiting" if topup.checkout_open(now) else "unpaid"


def headline(topup: TopUp, state: str) -> str:
    """The page's heading for the state; the script announces it when the state changes."""
    headlines = {
        "credited": _("Payment received — your balance has been credited"),
        "opening": _("Opening the payment page…"),
        "cancelled": _("Payment not completed"),
        "waiting": _("Waiting for the payment gateway to confirm"),
        "unpaid": _("No payment received yet"),
    }
    if state == "credited" and topup.repays_bills:
        return _("Payment received — your repayment has been credited")
    if state in headlines:
        return headlines[state]
    return _("%(status)s — nothing was credited") % {"status": topup.get_status_display()}


def status_json(topup: TopUp, *, now: datetime) -> dict:
    """The small document the return page polls: no amounts, only what changed."""
    state = page_state(topup, now=now)
    return {
        "state": state,
        "status": topup.status,
        "status_label": topup.get_status_display(),
        "headline": headline(topup, state),
        "poll_ms": POLL_EVERY_MS.get(state),
    }
