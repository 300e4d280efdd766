"""What django-axes records about a failed sign-in."""

USERNAME_COLUMN_LENGTH = 255  # axes' AccessAttempt.username and AccessFailureLog.username


def throttled_username(request, credentials: dict | None) -> str:
    """The username a failed attempt is counted under, cut to the column that stores it:
    a longer one typed into a sign-in form would otherwise be a database error, a 500."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    return str(username)[:USERNAME_COLUMN_LENGTH]
