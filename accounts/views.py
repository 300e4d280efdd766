from django.shortcuts import redirect, render

from topups.selectors import recent_topups

from .charts import balance_chart
from .decorators import customer_required
from .selectors import daily_balances, recent_ledger_entries


def home(request):
    if request.user.is_authenticated and request.user.account_id is None and request.user.is_staff:
        return redirect("admin:index")
    return redirect("accounts:overview")


@customer_required
def overview(request, account):
    context = {
        "account": account,
        "chart": balance_chart(daily_balances(account)),
        "entries": recent_ledger_entries(account),
        "open_topups": recent_topups(account, open_checkouts_only=True, limit=3),
    }
    return render(request, "accounts/overview.html", context)
