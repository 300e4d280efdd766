from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.decorators import customer_required
from billing_center.responses import pdf_attachment

from .documents import amount_due_label, bill_pdf, bill_rows
from .selectors import bills_for_account, get_bill_for_account


@customer_required
@require_safe  # pages that only show: GET and HEAD
def bill_list(request, account):
    page = Paginator(bills_for_account(account), 20).get_page(request.GET.get("page"))
    return render(request, "bills/list.html", {"account": account, "page": page})


@customer_required
@require_safe
def bill_detail(request, number, account):
    bill = get_bill_for_account(account, number)
    context = {
        "account": account,
        "bill": bill,
        "rows": bill_rows(bill),
        "amount_due_label": amount_due_label(),
        "lines": list(bill.lines.all()),
        "settlements": list(bill.settlements.all()),
    }
    return render(request, "bills/detail.html", context)


@customer_required
@require_safe
def bill_download(request, number, account):
    bill = get_bill_for_account(account, number)
    return pdf_attachment(bill_pdf(bill), f"bill-{bill.number}.pdf")
