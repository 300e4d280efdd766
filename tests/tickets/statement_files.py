"""camt.053 statements generated for the tests, as a bank would send them."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


@dataclass
class Tx:
    """One transaction of a batch entry (an Ntry with several TxDtls)."""

    amount: str  # unsigned, as the bank writes it under TxAmt
    payer: str = "Alice Example"
    creditor_reference: str = ""
    reference: str = ""  # its own AcctSvcrRef
    currency: str = "USD"


@dataclass
class Entry:
    amount: str  # negative: a debit
    reference: str = ""
    remittance: str = ""
    creditor_reference: str = ""
    payer: str = "Alice Example"
    currency: str = "USD"
    booked: date = date(2026, 12, 1)
    transactions: tuple[Tx, ...] = ()  # a batch: one TxDtls each, instead of the entry's own
    reversal: bool = False  # camt.053 RvslInd; MT940 RC (a credit reversed) or RD
    end_to_end: str = ""  # the payer's EndToEndId (camt.053); MT940's customer reference


def camt053(entries, *, opening="1000.00", closing=None, currency="USD", statement_id="STMT-2026-12-01") -> bytes:
    if closing is None:
        closing = Decimal(opening) + sum(Decimal(e.amount) for e in entries if e.currency == currency)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>MSG-{statement_id}</MsgId><CreDtTm>2026-12-02T06:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{statement_id}</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>{currency}</Ccy></Acct>"
        f"{_balance('OPBD', opening, currency)}{_balance('CLBD', closing, currency)}"
        + "".join(_entry(e) for e in entries)
        + "</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def _balance(code, amount, currency) -> str:
    amount = Decimal(amount)
    sign = "CRDT" if amount >= 0 else "DBIT"
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="{currency}">{abs(amount):.2f}</Amt><CdtDbtInd>{sign}</CdtDbtInd>'
        f"<Dt><Dt>2026-12-01</Dt></Dt></Bal>"
    )


def _entry(e: Entry) -> str:
    amount = Decimal(e.amount)
    credit = amount > 0
    party = "Dbtr" if credit else "Cdtr"
    strd = (
        f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>{escape(e.creditor_reference)}</Ref>"
        "</CdtrRefInf></Strd>"
        if e.creditor_reference
        else ""
    )
    refs = f"<Refs><EndToEndId>{escape(e.end_to_end)}</EndToEndId></Refs>" if e.end_to_end else ""
    details = "".join(_transaction(tx, party) for tx in e.transactions) or (
        f"<TxDtls>{refs}<RltdPties><{party}><Nm>{escape(e.payer)}</Nm></{party}></RltdPties>"
        f"<RmtInf><Ustrd>{escape(e.remittance)}</Ustrd>{strd}</RmtInf></TxDtls>"
    )
    return (
        f'<Ntry><Amt Ccy="{e.currency}">{abs(amount):.2f}</Amt><CdtDbtInd>{"CRDT" if credit else "DBIT"}</CdtDbtInd>'
        + ("<RvslInd>true</RvslInd>" if e.reversal else "")
        + f"<Sts>BOOK</Sts><BookgDt><Dt>{e.booked}</Dt></BookgDt><ValDt><Dt>{e.booked}</Dt></ValDt>"
        + (f"<AcctSvcrRef>{escape(e.reference)}</AcctSvcrRef>" if e.reference else "")
        + f"<NtryDtls>{details}</NtryDtls></Ntry>"
    )


def _transaction(tx: Tx, party: str) -> str:
    refs = f"<Refs><AcctSvcrRef>{escape(tx.reference)}</AcctSvcrRef></Refs>" if tx.reference else ""
    strd = f"<Strd><CdtrRefInf><Ref>{escape(tx.creditor_reference)}</Ref></CdtrRefInf></Strd>"
    return (
        f'<TxDtls>{refs}<AmtDtls><TxAmt><Amt Ccy="{tx.currency}">{tx.amount}</Amt></TxAmt></AmtDtls>'
        f"<RltdPties><{party}><Nm>{escape(tx.payer)}</Nm></{party}></RltdPties>"
        f"<RmtInf>{strd if tx.creditor_reference else ''}</RmtInf></TxDtls>"
    )


def mt940(entries, *, opening="1000.00", closing=None, currency="USD") -> bytes:
    """An MT940 statement (SWIFT customer statement) of the same entries."""
    if closing is None:
        closing = Decimal(opening) + sum(Decimal(e.amount) for e in entries if e.currency == currency)

    def balance(tag, amount):
        amount = Decimal(amount)
        return f":{tag}:{'C' if amount >= 0 else 'D'}261130{currency}{abs(amount):.2f}".replace(".", ",")

    lines = [":20:STMT-MT-1", ":25:DE89370400440532013000", ":28C:1/1", balance("60F", opening)]
    for e in entries:
        amount = Decimal(e.amount)
        mark = ("R" if e.reversal else "") + ("C" if (amount > 0) != e.reversal else "D")
        lines.append(
            f":61:{e.booked:%y%m%d}{e.booked:%m%d}{mark}{abs(amount):.2f}NTRFNONREF//{e.reference}".replace(".", ",", 1)
        )
        lines.append(f":86:{e.remittance or e.payer}")
    lines.append(balance("62F", closing))
    return ("\r\n".join(lines) + "\r\n").encode()


def csv_statement(entries, *, opening="1000.00", break_balance_at=None) -> bytes:
    """A bank's CSV export with a running balance column (headings as a Chinese bank writes them)."""
    rows = ["交易日期,金额,余额,流水号,付款人,附言"]
    balance = Decimal(opening)
    for n, e in enumerate(entries):
        balance += Decimal(e.amount)
        shown = balance + (1 if n == break_balance_at else 0)
        rows.append(f"{e.booked:%Y-%m-%d},{e.amount},{shown},{e.reference},{e.payer},{e.remittance}")
    return ("\n".join(rows) + "\n").encode("gb18030")
