from django.utils.translation import gettext as _


def current_account(request):
    """The signed-in customer's account for the navigation bar (None for staff), and what its list of
    payments is called: a postpaid account pays its bills, it does not top up."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.account_id is None:
        return {"current_account": None}
    account = user.account
    return {
        "current_account": account,
        "records_title": _("Payment records") if account.is_postpaid else _("Top-up records"),
    }
