def current_account(request):
    """The signed-in customer's account for the navigation bar (None for staff)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.account_id is None:
        return {"current_account": None}
    return {"current_account": user.account}
