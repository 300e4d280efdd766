from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect

from .selectors import get_account_for_user


def customer_required(view):
    """Signed in and acting for a customer account, passed to the view as `account`.

    Staff without a customer account belong in the admin, so they are sent there;
    anyone else without an account gets a 404.
    """

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.account_id is None:
            if request.user.is_staff:
                return redirect("admin:index")
            raise Http404("This user has no customer account.")
        account = get_account_for_user(request.user)
        request.user.account = account  # the navigation bar reads it: one query, not two
        return view(request, *args, account=account, **kwargs)

    return wrapper
