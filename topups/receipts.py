"""PDF receipts for credited top-ups, drawn with ReportLab's platypus, in the reader's language."""

from django.conf import settings
from django.utils.translation import gettext as _
from djmoney.money import Money
from reportlab.lib.units import mm
from reportlab.platypus import Spacer

from accounts.models import LedgerEntry
from billing_center.moments import moment
from billing_center.pdf import build_pdf, key_value_table, paragraph
from bills.models import Settlement
from money.formatting import format_money, format_rate

from .models import TopUp


def receipt_rows(topup: TopUp) -> list[tuple[str, str]]:
    """The receipt's lines, shared by the HTML page and the PDF."""
    rows = [
        (_("Receipt for"), topup.reference),
        (_("Account"), topup.account.name),
        (_("Method"), topup.method),
        (_("Amount paid"), format_money(topup.amount)),
        (_("Amount credited"), format_money(topup.credit_amount)),
    ]
    if topup.is_converted:
        rate = f"1 {topup.credit_amount.currency} = {format_rate(topup.exchange_rate)} {topup.amount.currency}"
        rows.append(
            (
                _("Exchange rate"),
                _("%(rate)s (%(source)s, as of %(time)s)")
                % {
                    "rate": rate,
                    "source": topup.rate_source_label,
                    "time": moment(topup.rate_as_of),
                },
            )
        )
    rows += [
        (_("Started"), moment(topup.created_at)),
        (_("Credited"), moment(topup.credited_at)),
        (_("Balance after"), format_money(topup.ledger_entry.balance_after)),
        (_("Our reference"), str(topup.public_id)),
    ]
    if topup.repays_bills:  # what an accounts department files it against: the bills it settled
        rows.append((_("Settles"), settled_bills(topup) or _("Kept as credit for the next bills")))
    refunds = list(
        topup.refunds.filter(status="succeeded").select_related("ledger_entry").order_by("succeeded_at", "id")
    )
    taken = Money(0, topup.credit_amount.currency)
    for refund in refunds:
        rows.append(
            (
                _("Refunded %(time)s") % {"time": moment(refund.succeeded_at)},
                _("%(amount)s (%(reference)s; −%(debit)s from the balance)")
                % {
                    "amount": format_money(refund.amount),
                    "reference": refund.reference,
                    "debit": format_money(refund.debited),
                },
            )
        )
        taken += refund.debited
    chargebacks = chargeback_rows(topup)
    for entry, row in chargebacks:
        rows.append(row)
        taken -= entry.amount  # the debit negative, a won dispute's return positive
    if refunds or chargebacks:
        rows.append((_("Net credited"), format_money(topup.credit_amount - taken)))
    return rows


def chargeback_rows(topup: TopUp) -> list[tuple[LedgerEntry, tuple[str, str]]]:
    """What the card's bank took back and returned, in order, each with its ledger entry; for a repayment, the
    bills the chargeback left unpaid again and those a won dispute settled again. The receipt had still said what
    a charged-back repayment settled, as if it stood (found in the closing note of 2026-12-05)."""
    rows = []
    disputes = topup.disputes.filter(debit_entry__isnull=False).select_related("debit_entry", "return_entry")
    for dispute in disputes.order_by("debit_entry__created_at", "pk"):
        debit = dispute.debit_entry
        words = _("%(amount)s taken back by the card's bank (%(reference)s; −%(debit)s from the balance)") % {
            "amount": format_money(dispute.amount),
            "reference": dispute.gateway_dispute_id,
            "debit": format_money(-debit.amount),
        }
        reopened = settled_bills(topup, source_ref=debit.source_ref)
        if reopened:
            words += " " + _("Unpaid again: %(bills)s.") % {"bills": reopened}
        rows.append((debit, (_("Charged back %(time)s") % {"time": moment(debit.created_at)}, words)))
        returned = dispute.return_entry
        if returned is not None:
            words = _("Dispute won: %(amount)s back on the balance.") % {"amount": format_money(returned.amount)}
            settled = settled_bills(topup, source_ref=returned.source_ref)
            if settled:
                words += " " + _("Settles again: %(bills)s.") % {"bills": settled}
            rows.append((returned, (_("Returned %(time)s") % {"time": moment(returned.created_at)}, words)))
    return rows


def settlements_of(topup: TopUp, *, source_ref: str = "") -> list[Settlement]:
    """What a credited repayment paid on each bill, oldest bill first, each with its bill; with `source_ref`, what a
    chargeback of it (or a won dispute's return) moved."""
    settlements = Settlement.objects.filter(source_ref=source_ref or topup.ledger_entry.source_ref)
    return list(settlements.select_related("bill").order_by("bill__period_start", "pk"))


def settled_bills(topup: TopUp, *, source_ref: str = "") -> str:
    """The bills a repayment settled, each with the part it paid: "BL-2026-11-000002 (151.55 USD)"; with
    `source_ref`, the bills a chargeback of it (or a won dispute's return) moved, the part as a positive amount."""
    return ", ".join(
        f"{s.bill.number} ({format_money(abs(s.amount))})" for s in settlements_of(topup, source_ref=source_ref)
    )


def confirmation(topup: TopUp) -> str:
    """The receipt's first sentence: a repayment is not a top-up (a postpaid account has none)."""
    merchant = {"merchant": settings.MERCHANT_NAME}
    if topup.repays_bills:
        return _("%(merchant)s confirms this repayment was received and credited.") % merchant
    return _("%(merchant)s confirms this top-up was received and credited.") % merchant


def receipt_pdf(topup: TopUp) -> bytes:
    return build_pdf(
        _("Receipt %(reference)s") % {"reference": topup.reference},
        [
            paragraph(_("Billing Center — payment receipt"), "Title"),
            paragraph(confirmation(topup)),
            Spacer(1, 8 * mm),
            key_value_table(receipt_rows(topup)),
            Spacer(1, 10 * mm),
            paragraph(_("Keep this receipt for your records. Amounts are in the currencies shown."), "Italic"),
        ],
    )
