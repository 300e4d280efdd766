"""Invoices as PDF, drawn with ReportLab's platypus, printing the receiving account that
was valid when the invoice was issued (not today's)."""

from django.conf import settings
from django.utils.timezone import localdate
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from reportlab.lib.units import mm
from reportlab.platypus import Spacer

from billing_center.pdf import build_pdf, key_value_table, paragraph
from money.formatting import format_money

from .invoice_payments import invoice_payments
from .models import Invoice, ReceivingAccount
from .references import formatted, payment_reference
from .selectors import current_receiving_accounts

PAYMENT_NOTE = gettext_lazy(
    "Pay to this account and in this currency, and quote the invoice number in the remark. Domestic transfers "
    "take 2–3 days; cross-border transfers take longer. After paying, open a Transfer Ticket in the Billing "
    "Center with your bank's certificate."
)


def invoice_rows(invoice: Invoice) -> list[tuple[str, str]]:
    rows = [
        (_("Invoice number"), invoice.number),
        (_("Issued to"), invoice.account.name),
        (_("Issue date"), f"{invoice.issue_date:%Y-%m-%d}"),
    ]
    if invoice.due_date:
        rows.append((_("Due date"), f"{invoice.due_date:%Y-%m-%d}"))
    if invoice.description:
        rows.append((_("Description"), invoice.description))
    rows.append((_("Amount due"), format_money(invoice.amount)))
    payment = invoice_payments([invoice])[invoice.pk]  # paid or not, as of the download
    rows.append(
        (_("Status"), _("%(state)s, as of %(date)s") % {"state": payment.label, "date": f"{localdate():%Y-%m-%d}"})
    )
    return rows


def payment_rows(invoice: Invoice) -> list[tuple[str, str]]:
    """Where to pay: the receiving account on the invoice, and what to quote."""
    return bank_rows(invoice.receiving_account, quote=invoice.number, account_id=invoice.account_id)


def bill_payment_rows(bill) -> list[list[tuple[str, str]]]:
    """Where to pay a postpaid bill by bank transfer (registered with bills.documents for its PDF): each current
    receiving account in the bill's currency, the bill number and the account's reference to quote. The PDF had
    named "the receiving account shown there", which the accounts-payable clerk holding it could not see (found
    by a helper)."""
    currency = str(bill.amount_due.currency)
    banks = [bank for bank in current_receiving_accounts(currency=currency) if bank.currency == currency]
    return [bank_rows(bank, quote=bill.number, account_id=bill.account_id) for bank in banks]


def bank_rows(bank: ReceivingAccount, *, quote: str, account_id: int) -> list[tuple[str, str]]:
    """A receiving account as a PDF prints it, and the remark to write: the document's number and the account's
    payment reference."""
    rows = [(_("Beneficiary"), bank.account_name), (_("Bank"), bank.bank_name)]
    if bank.bank_address:
        rows.append((_("Bank address"), bank.bank_address))
    rows += [
        ("IBAN" if bank.iban else _("Account number"), bank.number_display),
        ("SWIFT/BIC", bank.swift_bic),
        (_("Currency"), bank.currency),
        (_("Remark"), f"{quote} {formatted(payment_reference(account_id))}"),
    ]
    return rows


def invoice_pdf(invoice: Invoice) -> bytes:
    return build_pdf(
        _("Invoice %(number)s") % {"number": invoice.number},
        [
            paragraph(_("%(merchant)s — invoice") % {"merchant": settings.MERCHANT_NAME}, "Title"),
            key_value_table(invoice_rows(invoice)),
            Spacer(1, 8 * mm),
            paragraph(_("Pay by bank transfer to"), "Heading2"),
            key_value_table(payment_rows(invoice)),
            Spacer(1, 8 * mm),
            paragraph(str(PAYMENT_NOTE)),  # in Helvetica where it draws the text, as the title and heading
        ],
    )
