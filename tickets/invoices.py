"""Invoices as PDF, drawn with ReportLab's platypus, printing the receiving account that
was valid when the invoice was issued (not today's)."""

from django.conf import settings
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer

from billing_center.pdf import STYLES, build_pdf, key_value_table
from money.formatting import format_money

from .models import Invoice
from .references import formatted, payment_reference

PAYMENT_NOTE = (
    "Pay to this account and in this currency, and quote the invoice number in the remark. Domestic transfers "
    "take 2–3 days; cross-border transfers take longer. After paying, open a Transfer Ticket in the Billing "
    "Center with your bank's certificate."
)


def invoice_rows(invoice: Invoice) -> list[tuple[str, str]]:
    rows = [
        ("Invoice number", invoice.number),
        ("Issued to", invoice.account.name),
        ("Issue date", f"{invoice.issue_date:%Y-%m-%d}"),
    ]
    if invoice.due_date:
        rows.append(("Due date", f"{invoice.due_date:%Y-%m-%d}"))
    if invoice.description:
        rows.append(("Description", invoice.description))
    rows.append(("Amount due", format_money(invoice.amount)))
    return rows


def payment_rows(invoice: Invoice) -> list[tuple[str, str]]:
    """Where to pay: the receiving account on the invoice, and what to quote."""
    bank = invoice.receiving_account
    rows = [("Beneficiary", bank.account_name), ("Bank", bank.bank_name)]
    if bank.bank_address:
        rows.append(("Bank address", bank.bank_address))
    rows += [
        ("IBAN" if bank.iban else "Account number", bank.number_display),
        ("SWIFT/BIC", bank.swift_bic),
        ("Currency", bank.currency),
        ("Remark", f"{invoice.number} {formatted(payment_reference(invoice.account_id))}"),
    ]
    return rows


def invoice_pdf(invoice: Invoice) -> bytes:
    return build_pdf(
        f"Invoice {invoice.number}",
        [
            Paragraph(f"{settings.MERCHANT_NAME} — invoice", STYLES["Title"]),
            key_value_table(invoice_rows(invoice)),
            Spacer(1, 8 * mm),
            Paragraph("Pay by bank transfer to", STYLES["Heading2"]),
            key_value_table(payment_rows(invoice)),
            Spacer(1, 8 * mm),
            Paragraph(PAYMENT_NOTE, STYLES["Normal"]),
        ],
    )
