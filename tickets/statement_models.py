"""Bank statements: the files finance imports for a receiving account, and their lines.

A line is stored once per (receiving account, bank reference, booking date, amount,
currency): the same file twice, or two overlapping statements, add nothing. A credit line
is matched to an account (and a bill, a ticket), each match explained on the line, and
credited at most once through the ledger with the same source as the ticket path
(tickets.statements.sources).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from djmoney.money import Money

from .notes import EXPLANATION_SEPARATOR, SUGGESTION_SEPARATOR, shown
from .statements.parsed import reference_key_of


class StatementFile(models.Model):
    """One uploaded statement: where it came from and the balances it declared."""

    class Format(models.TextChoices):
        CAMT053 = "camt053", _("camt.053 (ISO 20022 XML)")
        MT940 = "mt940", "MT940"
        CSV = "csv", "CSV"

    receiving_account = models.ForeignKey(
        "tickets.ReceivingAccount",
        verbose_name=_("receiving account"),
        on_delete=models.PROTECT,
        related_name="statement_files",
    )
    format = models.CharField(verbose_name=_("format"), max_length=10, choices=Format.choices)
    original_name = models.CharField(verbose_name=_("original name"), max_length=200)
    sha256 = models.CharField(max_length=64, db_index=True, verbose_name=_("SHA-256"))
    statement_id = models.CharField(verbose_name=_("statement ID"), max_length=60, blank=True)
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    opening_balance = models.DecimalField(max_digits=18, decimal_places=2, verbose_name=_("opening balance"))
    closing_balance = models.DecimalField(max_digits=18, decimal_places=2, verbose_name=_("closing balance"))
    line_count = models.PositiveIntegerField(default=0, verbose_name=_("line count"))
    new_line_count = models.PositiveIntegerField(default=0, verbose_name=_("new line count"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(verbose_name=_("uploaded at"), default=timezone.now)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        verbose_name = _("statement file")
        verbose_name_plural = _("statement files")
        permissions = [("import_statementfile", "Can import bank statements and credit their lines")]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.statement_id or self.get_format_display()})"


class StatementLine(models.Model):
    """One entry of a bank statement, with what it was matched to and whether it was credited."""

    class State(models.TextChoices):
        UNMATCHED = "unmatched", _("Unmatched")
        MATCHED = "matched", _("Matched, awaiting confirmation")
        CREDITED = "credited", _("Credited")
        DEBIT = "debit", _("Debit (listed only)")
        OTHER_CURRENCY = "other_currency", _("Other currency, to return or set aside")
        SET_ASIDE = "set_aside", _("Set aside, not credited")

    class SetAside(models.TextChoices):
        NONE = "", _("None")
        RETURNED = "returned", _("Returned to the payer")
        NOT_A_PAYMENT = "not_a_payment", _("Not a customer payment")

    class Rule(models.TextChoices):
        NONE = "", _("None")
        RF = "rf", _("RF payment reference")
        INVOICE = "invoice", _("Invoice number")
        BILL = "bill", _("Bill number")
        TICKET = "ticket", _("Transfer ticket")
        MANUAL = "manual", _("Assigned by hand")

    EXACT_RULES = (Rule.RF, Rule.INVOICE, Rule.BILL)

    statement_file = models.ForeignKey(
        StatementFile, verbose_name=_("statement file"), on_delete=models.PROTECT, related_name="lines"
    )
    receiving_account = models.ForeignKey(
        "tickets.ReceivingAccount", verbose_name=_("receiving account"), on_delete=models.PROTECT, related_name="+"
    )
    bank_reference = models.CharField(verbose_name=_("bank reference"), max_length=60)
    booking_date = models.DateField(verbose_name=_("booking date"))
    amount = models.DecimalField(
        max_digits=18, decimal_places=2, help_text=_("Negative for a debit."), verbose_name=_("amount")
    )
    currency = models.CharField(max_length=3, verbose_name=_("currency"))
    payer_name = models.CharField(max_length=200, blank=True, verbose_name=_("payer name"))
    payer_account = models.CharField(max_length=60, blank=True, verbose_name=_("payer account"))
    remittance = models.TextField(blank=True, verbose_name=_("remittance"))
    creditor_reference = models.CharField(max_length=60, blank=True, verbose_name=_("creditor reference"))
    # The payer's own id for the transfer (camt.053 EndToEndId, MT940's customer reference): a ticket quoting it
    # finds the line, but it is never the transfer's identity (a payer may reuse it every month, two payers share it).
    payer_reference = models.CharField(
        max_length=60, blank=True, default="", verbose_name=_("payer's reference"),
        help_text=_("The payer's own reference for the transfer (end-to-end id), as the bank passed it on."),
    )  # fmt: skip

    state = models.CharField(
        verbose_name=_("state"), max_length=20, choices=State.choices, default=State.UNMATCHED, db_index=True
    )
    rule = models.CharField(verbose_name=_("rule"), max_length=10, choices=Rule.choices, default=Rule.NONE, blank=True)
    explanation = models.TextField(blank=True, verbose_name=_("explanation"))
    suggestions = models.CharField(max_length=300, blank=True, verbose_name=_("suggestions"))
    # The notes' messages and arguments, one per note, shown in the reader's language (tickets.notes).
    explanation_parts = models.JSONField(null=True, blank=True, editable=False)
    suggestion_parts = models.JSONField(null=True, blank=True, editable=False)
    account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("account")
    )
    bill = models.ForeignKey(
        "bills.Bill", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("bill")
    )
    ticket = models.ForeignKey(
        "tickets.TransferTicket",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="statement_lines",
        verbose_name=_("ticket"),
    )
    # A debit that takes back a credited transfer: that transfer's line, as noted on import (statements.returns).
    returned_line = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="returns", verbose_name=_("returns")
    )
    ledger_entry = models.ForeignKey(
        "accounts.LedgerEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("ledger entry"),
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("proposed by"),
    )
    credited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("credited by"),
    )
    credited_at = models.DateTimeField(null=True, blank=True, verbose_name=_("credited at"))
    matched_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When the importer looked for what the line names, whatever it found (an unmatched line too)."),
        verbose_name=_("checked at"),
    )
    # Finance's decision not to credit a line (money sent back, bank interest…), with its words; put back, cleared.
    set_aside_reason = models.CharField(
        verbose_name=_("set aside as"), max_length=20, choices=SetAside.choices, default=SetAside.NONE, blank=True
    )
    set_aside_note = models.CharField(verbose_name=_("why it was set aside"), max_length=500, blank=True)
    set_aside_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("set aside by"),
    )
    set_aside_at = models.DateTimeField(null=True, blank=True, verbose_name=_("set aside at"))

    class Meta:
        ordering = ["booking_date", "id"]
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        constraints = [
            models.UniqueConstraint(
                fields=["receiving_account", "bank_reference", "booking_date", "amount", "currency"],
                name="statement_line_once",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="credited") | models.Q(ledger_entry__isnull=False),
                name="statement_line_credited_has_entry",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="set_aside")
                | (~models.Q(set_aside_reason="") & models.Q(set_aside_by__isnull=False, ledger_entry__isnull=True)),
                name="statement_line_set_aside_has_reason",
            ),
        ]
        # A ticket's confirmation finds our statement's line for its transfer however the clerk spelled it.
        indexes = [models.Index(reference_key_of("bank_reference"), name="statement_line_reference_key")]

    def __str__(self) -> str:
        return f"{self.booking_date} {self.amount} {self.currency} {self.bank_reference}"

    @property
    def money(self) -> Money:
        return Money(self.amount, self.currency)

    @property
    def is_credit(self) -> bool:
        return self.amount > 0

    @property
    def shown_explanation(self) -> str:
        """Why the line matched, or did not, and what became of it: in the active language."""
        return shown(self.explanation, self.explanation_parts, EXPLANATION_SEPARATOR)

    @property
    def shown_suggestions(self) -> str:
        return shown(self.suggestions, self.suggestion_parts, SUGGESTION_SEPARATOR)


class StatementCsvFormat(models.Model):
    """How one receiving account's bank lays out its CSV export (column headings as the bank
    writes them). The running balance column is required: it is how a CSV statement proves its
    lines add up."""

    class Encoding(models.TextChoices):
        UTF8 = "utf-8-sig", "UTF-8"
        GB18030 = "gb18030", _("GB18030 (Chinese banks)")

    receiving_account = models.OneToOneField(
        "tickets.ReceivingAccount",
        verbose_name=_("receiving account"),
        on_delete=models.CASCADE,
        related_name="csv_format",
    )
    encoding = models.CharField(_("encoding"), max_length=10, choices=Encoding.choices, default=Encoding.UTF8)
    delimiter = models.CharField(_("delimiter"), max_length=1, default=",")
    date_column = models.CharField(_("date column"), max_length=60)
    date_format = models.CharField(
        _("date format"), max_length=20, default="%Y-%m-%d", help_text=_("e.g. %Y-%m-%d or %d.%m.%Y")
    )
    amount_column = models.CharField(
        _("amount column"), max_length=60, help_text=_("Signed: negative for money going out.")
    )
    balance_column = models.CharField(
        _("balance column"), max_length=60, help_text=_("The account's balance after each line.")
    )
    reference_column = models.CharField(_("reference column"), max_length=60)
    currency_column = models.CharField(
        _("currency column"), max_length=60, blank=True, help_text=_("Empty: the account's currency.")
    )
    payer_column = models.CharField(_("payer column"), max_length=60, blank=True)
    payer_account_column = models.CharField(_("payer account column"), max_length=60, blank=True)
    remittance_column = models.CharField(_("remittance column"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("statement CSV format")
        verbose_name_plural = _("statement CSV formats")

    def __str__(self) -> str:
        return gettext("CSV columns for %(account)s") % {"account": self.receiving_account}
