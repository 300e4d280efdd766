"""Customer pages for bank transfers: transfer tickets, their certificates, and invoices."""

import secrets

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_safe
from djmoney.money import Money

from accounts.decorators import customer_required
from billing_center.errors import show_on_form
from billing_center.keyset import Keyset, keyset_page
from billing_center.responses import pdf_attachment, see_other
from billing_center.stored_files import open_for_streaming
from bills.selectors import bills_for_account
from money.errors import BillingError
from money.formatting import plain_amount

from .exceptions import TicketAlreadySubmitted
from .forms import TicketReplyForm, TransferTicketForm
from .held_certificates import HOLD_FOR, as_checked, held_for, hold, release
from .intake import TicketDetails, can_file_ticket, reply_to_ticket, submit_ticket
from .invoice_payments import invoice_payments
from .invoices import invoice_pdf
from .references import formatted, payment_reference
from .selectors import (
    current_receiving_accounts,
    get_certificate_for_user,
    get_invoice_for_account,
    get_ticket_for_account,
    invoices_for_account,
    public_events,
    tickets_for_account,
)


@customer_required
@require_safe  # pages that only show: GET and HEAD
def ticket_list(request, account):
    page = keyset_page(Keyset(tickets_for_account(account), time="submitted_at"), request.GET, size=20)
    return render(request, "tickets/list.html", {"account": account, "page": page})


@customer_required
@require_http_methods(["GET", "POST"])
def ticket_create(request, account):
    """Create Service Ticket: recorded under the signed-in user and their account."""
    initial = {
        "currency": account.billing_currency,
        "contact_name": request.user.get_full_name() or request.user.username,
        "contact_email": request.user.email,
        "payment_reference": formatted(payment_reference(account.pk)),
    }
    bill = bills_for_account(account).filter(number=request.GET.get("bill", "")).first()
    if bill is not None:  # "Transfer Ticket" next to a bill on Repay: what is left of it
        initial.update(bill_number=bill.number, amount=plain_amount(bill.remaining))
    invoice = invoices_for_account(account).filter(number=request.GET.get("invoice", "")).first()
    if invoice is not None:  # "Transfer Ticket" on an invoice: what it asked for, where it said to pay
        initial.update(
            invoice_number=invoice.number,
            amount=plain_amount(invoice.amount),
            currency=str(invoice.amount.currency),
            receiving_account=invoice.receiving_account_id,
        )
    held = held_for(request.POST.getlist("held"), account_id=account.pk, user=request.user) if request.POST else []
    form = TransferTicketForm(request.POST or None, request.FILES or None, account=account, initial=initial, held=held)
    status = 200
    if request.method == "POST":
        if not can_file_ticket(account):
            form.add_error(None, account.topup_refusal)
            status = 403
        elif form.is_valid():
            data = form.cleaned_data
            details = TicketDetails(
                payer_name=data["payer_name"],
                payer_bank=data["payer_bank"],
                payer_account=data["payer_account"],
                amount=Money(data["amount"], data["currency"]),
                transfer_date=data["transfer_date"],
                bank_reference=data["bank_reference"],
                receiving_account=data["receiving_account"],
                invoice=data["invoice_number"],
                bill=data.get("bill_number"),
                payment_reference=data["payment_reference"],
                contact_name=data["contact_name"],
                contact_email=data["contact_email"],
                contact_phone=data["contact_phone"],
                problem_description=data["problem_description"],
            )
            certificates = [*(as_checked(h) for h in held), *data["certificates"]]
            try:
                ticket = submit_ticket(
                    account_id=account.pk,
                    user=request.user,
                    details=details,
                    certificates=certificates,
                    request_key=data["request_key"],
                )
            except TicketAlreadySubmitted as exc:  # a double click, or Back and send again: one ticket
                messages.info(request, _("%(sent)s To correct it, reply on it below.") % {"sent": exc.message})
                return see_other("tickets:detail", exc.ticket.number)
            except BillingError as exc:
                status = show_on_form(form, exc)
            else:
                release(held)
                messages.success(
                    request,
                    _("Ticket %(number)s was submitted. Finance will credit it by the date shown.")
                    % {"number": ticket.number},
                )
                return see_other("tickets:detail", ticket.number)
        else:
            status = 400
        kept = form.certificates_to_keep() if status != 403 and form.errors else []
        if kept:  # held for the corrected form
            form.held += hold(kept, account_id=account.pk, user=request.user)
    context = {
        "account": account,
        "form": form,
        # The page's one-time key; a refused page made no ticket, so its corrected copy keeps it.
        "request_key": (form.data.get("request_key") if "request_key" not in form.errors else "")
        or secrets.token_urlsafe(24),
        "can_file": can_file_ticket(account),
        "hold_hours": int(HOLD_FOR.total_seconds() // 3600),
    }
    return render(request, "tickets/create.html", context, status=status)


@customer_required
@require_http_methods(["GET", "POST"])
def ticket_detail(request, number, account):
    ticket = get_ticket_for_account(account, number)
    form = TicketReplyForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                reply_to_ticket(
                    ticket_id=ticket.pk,
                    user=request.user,
                    body=form.cleaned_data["body"],
                    certificates=form.cleaned_data["certificates"],
                )
            except BillingError as exc:
                status = show_on_form(form, exc)
            else:
                messages.success(request, _("Your reply was sent to finance."))
                return see_other("tickets:detail", ticket.number)
        else:
            status = 400
    context = {
        "account": account,
        "ticket": ticket,
        "events": public_events(ticket),
        "timeline": timeline(ticket),
        "certificates": ticket.certificates.all(),
        "form": form,
    }
    return render(request, "tickets/detail.html", context, status=status)


def timeline(ticket) -> list[dict]:
    """submitted → under review → credited / rejected / more information needed."""
    status = ticket.status
    Status = ticket.Status
    reviewed = status != Status.SUBMITTED
    steps = [
        {"label": _("Submitted"), "state": "done", "when": _day(ticket.submitted_at)},
        {"label": _("Under review"), "state": "done" if reviewed else "todo", "when": ""},
    ]
    if status == Status.UNDER_REVIEW:
        steps[1]["state"] = "current"
    if status == Status.INFO_REQUESTED:
        steps.append({"label": _("More information needed"), "state": "current", "when": _("Waiting for your reply")})
    if status == Status.CREDITED:
        steps.append({"label": _("Credited"), "state": "done", "when": _day(ticket.decided_at)})
    elif status == Status.REJECTED:
        steps.append({"label": _("Rejected"), "state": "stopped", "when": _day(ticket.decided_at)})
    else:
        expected = _("expected by %(date)s") % {"date": _day(ticket.due_at)}
        steps.append({"label": _("Credited"), "state": "todo", "when": expected})
    return steps


def _day(moment) -> str:
    """A step's day in the reader's time zone, as the thread beside it shows its times (it had been UTC's day:
    a ticket sent at 01:20 in Shanghai read as submitted the day before)."""
    return f"{timezone.localdate(moment):%Y-%m-%d}"


@login_required
@require_GET
def certificate_download(request, number, certificate_id):
    """Only the uploader's account and finance may read a certificate; anyone else gets a 404.

    Always an attachment, with its checked content type, nosniff and a sandboxing CSP, so
    a file can never run as a page on our origin.
    """
    certificate = get_certificate_for_user(request.user, number=number, certificate_id=certificate_id)
    stored = open_for_streaming(certificate.file)  # from object storage: sent as it arrives, never held whole
    response = FileResponse(
        stored,
        as_attachment=True,
        filename=f"{certificate.ticket.number}-{certificate.pk}{certificate.extension}",
        content_type=certificate.content_type,
    )
    response["Content-Length"] = stored.size
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


@customer_required
@require_safe  # pages that only show: GET and HEAD
def invoice_list(request, account):
    page = keyset_page(Keyset(invoices_for_account(account), time="issue_date"), request.GET, size=20)
    payments = invoice_payments(list(page.object_list))
    rows = [(invoice, payments[invoice.pk]) for invoice in page.object_list]
    return render(request, "tickets/invoices.html", {"account": account, "page": page, "rows": rows})


@customer_required
@require_safe  # pages that only show: GET and HEAD
def invoice_detail(request, number, account):
    invoice = get_invoice_for_account(account, number)
    reference = formatted(payment_reference(account.pk))
    context = {"account": account, "invoice": invoice, "reference": reference}
    return render(request, "tickets/invoice.html", {**context, "payment": invoice_payments([invoice])[invoice.pk]})


@customer_required
@require_safe  # pages that only show: GET and HEAD
def invoice_download(request, number, account):
    invoice = get_invoice_for_account(account, number)
    return pdf_attachment(invoice_pdf(invoice), f"{invoice.number}.pdf")


@customer_required
@require_safe  # pages that only show: GET and HEAD
def bank_transfer(request, account):
    """Pay page, second method: where to transfer, what to quote, then a Transfer Ticket."""
    reference = payment_reference(account.pk)
    receiving = current_receiving_accounts(currency=account.billing_currency)
    qr_code = ""
    if receiving and account.can_top_up:
        bank = receiving[0]
        number = f"IBAN: {bank.iban}" if bank.iban else f"Account: {bank.account_number}"
        details = (
            f"Beneficiary: {bank.account_name}\n{number}\nBIC: {bank.swift_bic}\n"
            f"Currency: {bank.currency}\nReference: {reference}"
        )
        qr_code = segno.make(details, error="m").svg_inline(scale=3, dark="#1f2933", title=_("Transfer details"))
    context = {
        "account": account,
        "receiving_accounts": receiving,
        # Paid into one of these, the transfer needs a ticket: finance converts it at a rate locked then.
        "other_currencies": sorted({bank.currency for bank in receiving} - {account.billing_currency}),
        "reference": reference,
        "reference_formatted": formatted(reference),
        "qr_code": qr_code,
        "recent_invoices": list(invoices_for_account(account)[:3]),
    }
    return render(request, "tickets/bank_transfer.html", context, status=200 if account.can_top_up else 403)
