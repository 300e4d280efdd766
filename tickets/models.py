"""Bank transfers: where customers send money (receiving accounts), the invoices that name
an account, and the transfer tickets finance reviews and credits."""

import hashlib
import uuid

from django.conf import settings
from django.core.files.storage import storages
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from djmoney.models.fields import MoneyField
from simple_history.models import HistoricalRecords

from accounts.descriptions import rate_text

from .references import formatted
from .regions import region_name
from .statements.parsed import compact_reference, reference_key, reference_key_of


def transfer_source_ref(receiving_account_id: int, bank_reference: str) -> str:
    """The ledger source of a bank transfer: the account of ours it reached and its reference on that account's
    statement, however typed. Two banks may give two transfers one reference; each is credited."""
    return f"bank:{receiving_account_id}:{reference_key(bank_reference)}"


def legacy_transfer_sources(bank_reference: str) -> set[str]:
    """The sources a transfer was credited under before they named the receiving account: "bank:BK1005", and
    before references were compared by their letters and digits, "bank:BK-1005". Such an entry is this
    transfer's only where a line or ticket of the same receiving account carries it (matching.earlier_credits)."""
    return {"bank:" + reference_key(bank_reference), "bank:" + compact_reference(bank_reference)}


class ReceivingAccount(models.Model):
    """A bank account of ours that customers transfer to.

    Never edited or deleted once used: finance adds a new one and the previous one for
    the same currency and region is retired, so every invoice keeps printing the account
    that was valid when it was issued.
    """

    bank_name = models.CharField(verbose_name=_("bank name"), max_length=200)
    bank_address = models.CharField(verbose_name=_("bank address"), max_length=300, blank=True)
    account_name = models.CharField(
        verbose_name=_("account name"), max_length=200, help_text=_("The beneficiary name the bank expects.")
    )
    account_number = models.CharField(
        verbose_name=_("account number"), max_length=40, blank=True, help_text=_("For banks that do not use IBAN.")
    )
    iban = models.CharField("IBAN", max_length=34, blank=True)
    swift_bic = models.CharField("SWIFT/BIC", max_length=11)
    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    region = models.CharField(
        verbose_name=_("region"), max_length=60, default="International", help_text=_("e.g. Mainland China, SEPA.")
    )
    valid_from = models.DateTimeField(verbose_name=_("valid from"), default=timezone.now)
    retired_at = models.DateTimeField(verbose_name=_("retired at"), null=True, blank=True)
    tickets_until = models.DateTimeField(
        _("Tickets accepted until"),
        null=True,
        blank=True,
        help_text=_(
            "Once retired, customers may still name this account on a Transfer Ticket until then "
            "(money sent before they saw the new account). Finance sets it; empty: only those whose invoices print it."
        ),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["currency", "region", "-valid_from"]
        verbose_name = _("receiving account")
        verbose_name_plural = _("receiving accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["currency", "region"],
                condition=models.Q(retired_at__isnull=True),
                name="one_current_receiving_account_per_currency_region",
            ),
            models.CheckConstraint(
                condition=~models.Q(iban="") | ~models.Q(account_number=""),
                name="receiving_account_has_number_or_iban",
                violation_error_message=_("Give an IBAN or an account number."),  # its name had been the message
            ),
        ]

    def __str__(self) -> str:
        # Named wherever finance picks one (filters, the ticket's page): the region and the day it was
        # retired tell apart two accounts of one bank and currency whose numbers end alike.
        day = f"{timezone.localdate(self.retired_at):%Y-%m-%d}" if self.retired_at else ""
        retired = " " + gettext("(retired %(day)s)") % {"day": day} if self.retired_at else ""
        return f"{self.bank_name} · {self.region} · {self.currency} · …{self.last_digits}{retired}"

    @property
    def is_current(self) -> bool:
        return self.retired_at is None

    @property
    def region_name(self) -> str:
        return region_name(self.region)

    @property
    def number_compact(self) -> str:
        return self.iban or self.account_number

    @property
    def last_digits(self) -> str:
        return self.number_compact[-4:]

    @property
    def number_display(self) -> str:
        """IBAN in groups of four (how banks print it), or the plain account number."""
        if self.iban:
            return " ".join(self.iban[i : i + 4] for i in range(0, len(self.iban), 4))
        return self.account_number


class Invoice(models.Model):
    """An invoice issued to a customer, printed with the receiving account valid at issue."""

    number = models.CharField(verbose_name=_("invoice number"), max_length=30, unique=True, blank=True)
    account = models.ForeignKey(
        "accounts.Account", verbose_name=_("account"), on_delete=models.PROTECT, related_name="invoices"
    )
    amount = MoneyField(
        verbose_name=_("amount"), max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY
    )
    issue_date = models.DateField(verbose_name=_("issue date"), default=timezone.localdate)
    due_date = models.DateField(verbose_name=_("due date"), null=True, blank=True)
    description = models.CharField(verbose_name=_("description"), max_length=300, blank=True)
    receiving_account = models.ForeignKey(
        ReceivingAccount, verbose_name=_("receiving account"), on_delete=models.PROTECT, related_name="invoices"
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-issue_date", "-id"]
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="invoice_amount_positive")]
        # The customer's invoice list, newest first, a page at a time (billing_center.keyset).
        indexes = [models.Index(fields=["account", "-issue_date", "-id"], name="invoice_account_recent")]

    def __str__(self) -> str:
        return self.number or gettext("new invoice")


class TransferTicket(models.Model):
    """A customer's claim that they transferred money, with the bank's certificate.

    Credited at most once: the row is locked while finance acts on it, and the ledger's
    unique (kind, source_ref="ticket:<id>") refuses a second entry behind it.
    """

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        UNDER_REVIEW = "under_review", _("Under review")
        INFO_REQUESTED = "info_requested", _("More information needed")
        CREDITED = "credited", _("Credited")
        REJECTED = "rejected", _("Rejected")

    class Deadline(models.TextChoices):
        ON_TIME = "", _("On time")
        DUE_SOON = "due_soon", _("Due soon")
        OVERDUE = "overdue", _("Overdue")

    OPEN_STATUSES = (Status.SUBMITTED, Status.UNDER_REVIEW, Status.INFO_REQUESTED)
    WAITING_ON_FINANCE = (Status.SUBMITTED, Status.UNDER_REVIEW)  # not on the customer's reply

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(verbose_name=_("number"), max_length=20, unique=True, null=True, blank=True)
    account = models.ForeignKey(
        "accounts.Account", verbose_name=_("account"), on_delete=models.PROTECT, related_name="transfer_tickets"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("submitted by")
    )
    # What the customer says they sent.
    payer_name = models.CharField(max_length=200, verbose_name=_("payer name"))
    payer_bank = models.CharField(max_length=200, verbose_name=_("payer bank"))
    payer_account = models.CharField(max_length=60, verbose_name=_("payer account"))
    amount = MoneyField(
        max_digits=18, decimal_places=2, default_currency=settings.DEFAULT_CURRENCY, verbose_name=_("amount")
    )
    transfer_date = models.DateField(verbose_name=_("transfer date"))
    bank_reference = models.CharField(max_length=60, db_index=True, verbose_name=_("bank reference"))
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("invoice")
    )
    # A postpaid account's repayment names the bill it pays: credited as a repayment, settling it first.
    bill = models.ForeignKey(
        "bills.Bill",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transfer_tickets",
        verbose_name=_("bill"),
    )
    receiving_account = models.ForeignKey(
        ReceivingAccount, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("receiving account")
    )
    payment_reference = models.CharField(max_length=35, blank=True, verbose_name=_("payment reference"))
    contact_name = models.CharField(max_length=200, verbose_name=_("contact name"))
    contact_email = models.EmailField(verbose_name=_("contact email"))
    contact_phone = models.CharField(max_length=30, blank=True, verbose_name=_("contact phone"))
    problem_description = models.TextField(blank=True, verbose_name=_("problem description"))

    status = models.CharField(
        verbose_name=_("status"), max_length=20, choices=Status.choices, default=Status.SUBMITTED, db_index=True
    )
    submitted_at = models.DateTimeField(default=timezone.now, verbose_name=_("submitted at"))
    due_at = models.DateTimeField(
        db_index=True, help_text=_("Three working days in finance's calendar, in UTC."), verbose_name=_("due at")
    )
    deadline_flag = models.CharField(
        max_length=10, choices=Deadline.choices, default=Deadline.ON_TIME, blank=True, verbose_name=_("deadline flag")
    )
    possible_duplicate = models.BooleanField(verbose_name=_("possible duplicate"), default=False, db_index=True)

    # What finance found on the bank statement. When a second approval is needed these are
    # the maker's proposal, credited only when a different finance user approves them.
    received_amount = MoneyField(
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        default_currency=settings.DEFAULT_CURRENCY,
        verbose_name=_("received amount"),
    )
    credit_amount = MoneyField(
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        default_currency=settings.DEFAULT_CURRENCY,
        verbose_name=_("credit amount"),
    )
    exchange_rate = models.DecimalField(
        max_digits=24, decimal_places=12, null=True, blank=True, verbose_name=_("exchange rate")
    )
    rate_source = models.CharField(max_length=100, blank=True, verbose_name=_("rate source"))
    rate_as_of = models.DateTimeField(null=True, blank=True, verbose_name=_("rate as of"))
    confirmed_bank_reference = models.CharField(max_length=60, blank=True, verbose_name=_("confirmed bank reference"))
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("proposed by"),
    )
    proposed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("proposed at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decision_note = models.TextField(
        blank=True, help_text=_("The rejection reason, shown to the customer."), verbose_name=_("decision note")
    )
    ledger_entry = models.OneToOneField(
        "accounts.LedgerEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transfer_ticket",
        verbose_name=_("ledger entry"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    # The Create Service Ticket page's one-time key: the page sent twice (a double click, Back and
    # send again) is one ticket (tickets.intake.submit_ticket).
    request_key = models.CharField(max_length=64, blank=True, editable=False, verbose_name=_("request key"))
    history = HistoricalRecords()

    class Meta:
        ordering = ["-submitted_at", "-id"]
        verbose_name = _("transfer ticket")
        verbose_name_plural = _("transfer tickets")
        permissions = [
            ("credit_transferticket", "Can confirm transfers and credit balances"),
            ("review_transferticket", "Can request information on and reject transfer tickets"),
        ]
        indexes = [
            # The ticket list's and the records page's order (newest first, id breaking ties).
            models.Index(fields=["account", "-submitted_at", "-id"], name="ticket_account_recent"),
            models.Index(fields=["status", "due_at"], name="ticket_queue"),
            # A statement line finds its ticket by the bank reference however the customer typed it, or by
            # amount and date (tickets.statements.matching).
            models.Index(reference_key_of("bank_reference"), name="ticket_bank_reference_key"),
            models.Index(reference_key_of("confirmed_bank_reference"), name="ticket_confirmed_reference_key"),
            models.Index(fields=["transfer_date", "amount"], name="ticket_transfer_day"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="ticket_amount_positive"),
            models.CheckConstraint(
                condition=~models.Q(status="credited") | models.Q(ledger_entry__isnull=False),
                name="ticket_credited_has_entry",
            ),
            # One line of our bank statement pays one ticket, whatever the clerks type; another of our banks
            # may give another transfer the same reference.
            models.UniqueConstraint(
                fields=["receiving_account", "confirmed_bank_reference"],
                condition=~models.Q(confirmed_bank_reference=""),
                name="ticket_statement_line_once_per_bank",
            ),
            models.UniqueConstraint(
                fields=["account", "request_key"], condition=~models.Q(request_key=""), name="ticket_once_per_page"
            ),
        ]

    def __str__(self) -> str:
        return self.number or gettext("new ticket")

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def awaiting_approval(self) -> bool:
        """A maker proposed a credit that a second finance user has not yet approved."""
        return self.is_open and self.proposed_by_id is not None

    @property
    def names_retired_account(self) -> bool:
        """The ticket names a receiving account finance has retired: the only case where a transfer at another of
        our accounts with its reference and amount is taken for the ticket's (two current accounts may give two
        transfers one reference)."""
        return not self.receiving_account.is_current

    @property
    def proposal_fingerprint(self) -> str:
        """What the checker's confirmation page shows of the proposal, in short: approving checks it is still the
        proposal (tickets.review.approve_credit); a proposal withdrawn and made again with other figures differs."""
        shown = (self.proposed_by_id, self.proposed_at, self.received_amount, self.credit_amount, self.exchange_rate,
                 self.confirmed_bank_reference)  # fmt: skip
        return hashlib.sha256(repr(shown).encode()).hexdigest()[:32]

    @property
    def exchange_rate_shown(self) -> str:
        """The locked rate, one unit of the credited currency in the received one ("1 USD = 7.1000 CNY")."""
        if self.exchange_rate is None or self.received_amount is None or self.credit_amount is None:
            return ""
        return rate_text(self.exchange_rate, self.received_amount.currency, self.credit_amount.currency)

    @property
    def payment_reference_shown(self) -> str:
        """The RF reference grouped in fours, as the Pay page and banks print it ("RF17 BC00 0000 01")."""
        return formatted(self.payment_reference) if self.payment_reference else ""

    def is_overdue(self, now=None) -> bool:
        return self.is_open and (now or timezone.now()) > self.due_at


def certificate_upload_to(instance: "Certificate", filename: str) -> str:
    """A random name: nothing the customer typed reaches the file system."""
    return f"{timezone.now():%Y/%m}/{uuid.uuid4().hex}{instance.extension}"


def held_upload_to(instance: "HeldCertificate", filename: str) -> str:
    return f"held/{uuid.uuid4().hex}{instance.extension}"


def certificate_storage():
    return storages["certificates"]


from .calendar_models import CalendarDay  # noqa: E402,F401  (finance's holiday calendar)
from .statement_models import StatementCsvFormat, StatementFile, StatementLine  # noqa: E402,F401  (bank statements)
from .thread_models import Certificate, HeldCertificate, TicketEvent  # noqa: E402,F401  (a ticket's thread)
