"""camt.053 statements generated for the tests, as a bank would send them."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


@dataclass
class Entry:
    amount: str  # negative: a debit
    reference: str = ""
    remittance: str = ""
    creditor_reference: str = ""
    payer: str = "Alice Example"
    currency: str = "USD"
    booked: date = date(2026, 12, 1)


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
    return (
        f'<Ntry><Amt Ccy="{e.currency}">{abs(amount):.2f}</Amt><CdtDbtInd>{"CRDT" if credit else "DBIT"}</CdtDbtInd>'
        f"<Sts>BOOK</Sts><BookgDt><Dt>{e.booked}</Dt></BookgDt><ValDt><Dt>{e.booked}</Dt></ValDt>"
        f"<AcctSvcrRef>{escape(e.reference)}</AcctSvcrRef>"
        f"<NtryDtls><TxDtls><RltdPties><{party}><Nm>{escape(e.payer)}</Nm></{party}></RltdPties>"
        f"<RmtInf><Ustrd>{escape(e.remittance)}</Ustrd>{strd}</RmtInf></TxDtls></NtryDtls></Ntry>"
    )
