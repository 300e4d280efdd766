from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from topups.selectors import recent_topups

from .charts import balance_chart
from .selectors import daily_balances, get_account_for_user, recent_ledger_entries


def home(request):
    if request.user.is_authenticated and request.user.account_id is None and request.user.is_staff:
        return redirect("admin:index")
    return redirect("accounts:overview")


@login_required
def overview(request):
    account = get_account_for_user(request.user)
    context = {
        "account": account,
        "chart": balance_chart(daily_balances(account)),
        "entries": recent_ledger_entries(account),
        "pending_topups": recent_topups(account, pending_only=True, limit=3),
    }
    return render(request, "accounts/overview.html", context)
