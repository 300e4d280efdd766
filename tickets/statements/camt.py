"""camt.053 (ISO 20022 bank-to-customer statement) parsed safely: defusedxml refuses any DTD
(so no external entities and no entity expansion), and the importer caps the file size
before this module sees it. Namespaces differ between versions (.001.02 to .001.08), so
the namespaces are dropped once after parsing and elements are found by their local names."""

import codecs
import re
from dataclasses import replace
from datetime import date

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from django.utils.translation import gettext as _

from accounts.descriptions import describe
from money.errors import Invalid

from .. import notes
from .parsed import ParsedLine, ParsedStatement, currency_code, parse_decimal, require_same_currency

# The XML declaration's encoding, after an optional UTF-8 byte order mark.
DECLARED_ENCODING = re.compile(rb'^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["\']([A-Za-z0-9._:-]{1,40})["\']')
EXPAT_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "utf-16"}
# Python's own codecs that are no character set a bank writes in (an escape decoder would let the file rewrite
# its own markup), and those that are not text at all.
NOT_CHARSETS = {"unicode-escape", "raw-unicode-escape", "punycode", "idna", "charmap", "undefined"}


def parse_camt053(data: bytes) -> ParsedStatement:
    try:
        root = fromstring(_as_expat_reads(data), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise Invalid(
            _("This XML file declares a DTD or entities, which a bank statement never does; it was refused."),
            code="statement_unsafe",
        ) from exc
    except (ParseError, ValueError) as exc:  # ValueError: an encoding expat cannot read, declared in UTF-16
        raise Invalid(
            _("This is not a complete camt.053 file (%(error)s). Nothing was imported.") % {"error": exc},
            code="statement_unreadable",
        ) from exc
    for node in root.iter():  # local names from here on: one pass, then ElementTree's own lookups
        if isinstance(node.tag, str):
            node.tag = node.tag.rsplit("}", 1)[-1]
    statements = _all(root, "Stmt")
    if len(statements) != 1:
        raise Invalid(_("Upload a camt.053 file with exactly one statement (<Stmt>)."), code="statement_unreadable")
    stmt = statements[0]
    currency = currency_code(_text(stmt, "Acct", "Ccy"))
    balances = {_text(bal, "Tp", "CdOrPrtry", "Cd"): bal for bal in _children(stmt, "Bal")}
    if "OPBD" not in balances or "CLBD" not in balances:
        raise Invalid(_("The statement has no opening (OPBD) or closing (CLBD) balance."), code="statement_unreadable")
    opening, opening_currency = _amount(balances["OPBD"], _("opening balance"))
    closing, closing_currency = _amount(balances["CLBD"], _("closing balance"))
    require_same_currency(opening_currency, closing_currency)
    if currency and opening_currency and opening_currency != currency:
        raise Invalid(
            _("The statement's account is in %(account)s, its balances in %(balances)s. Nothing was imported.")
            % {"account": currency[:20], "balances": opening_currency[:20]},
            code="statement_unreadable",
        )
    return ParsedStatement(
        statement_id=_text(stmt, "Id"),
        currency=currency or opening_currency,
        opening_balance=opening,
        closing_balance=closing,
        lines=[line for entry in _children(stmt, "Ntry") for line in _lines(entry)],
        account=_text(stmt, "Acct", "Id", "IBAN") or _text(stmt, "Acct", "Id", "Othr", "Id"),
    )


def _as_expat_reads(data: bytes) -> bytes:
    """The file as expat can read it: expat knows UTF-8, UTF-16, ASCII and Latin-1 only, so a statement
    declared in another encoding (gb18030 from a Chinese bank, big5, shift_jis) is decoded here and handed
    over as UTF-8 with its declaration saying so. It had been a 500."""
    found = DECLARED_ENCODING.match(data[:300])
    if found is None or found.group(1).decode().lower() in EXPAT_ENCODINGS:
        return data
    encoding = found.group(1).decode()
    try:
        codec = codecs.lookup(encoding)
        if not codec._is_text_encoding or codec.name in NOT_CHARSETS:
            raise LookupError(encoding)
        text = data.decode(encoding)
    except LookupError as exc:
        raise Invalid(
            _("This XML file declares an encoding we do not know (%(encoding)s). Nothing was imported.")
            % {"encoding": encoding},
            code="statement_unreadable",
        ) from exc
    except UnicodeDecodeError as exc:
        raise Invalid(
            _("This XML file is not %(encoding)s text, as it declares. Nothing was imported.") % {"encoding": encoding},
            code="statement_unreadable",
        ) from exc
    return _redeclared(text, encoding)


def _redeclared(text: str, encoding: str) -> bytes:
    """The decoded text as UTF-8, its declaration saying UTF-8 instead of `encoding`."""
    head, rest = text[:300], text[300:]
    return (head.replace(encoding, "UTF-8", 1) + rest).encode("utf-8")


def _lines(entry) -> list[ParsedLine]:
    """An entry's lines: one, or one per transaction of a batch the bank booked as one entry (several TxDtls),
    each with its own amount, references and payer, where their amounts add up to the entry's. A batch that
    does not add up is one line, held back from crediting: it had been credited whole to the first
    transaction's customer."""
    amount, currency = _amount(entry, _("entry amount"))
    transactions = _children(_first(entry, "NtryDtls"), "TxDtls")
    reference = _text(entry, "AcctSvcrRef")
    if len(transactions) < 2:
        return [_line(entry, _first(entry, "NtryDtls", "TxDtls"), amount, currency, reference)]
    parts = [_transaction_amount(tx, amount, currency) for tx in transactions]
    if None in parts or sum(parts) != amount:
        held = describe(notes.BATCH_NOT_SPLIT, count=len(transactions)) if amount > 0 else None
        return [replace(_line(entry, None, amount, currency, reference), held=held)]
    whole = (
        _line(entry, transactions[0], amount, currency, reference),
        _line(entry, None, amount, currency, reference),
    )
    return [
        replace(_line(entry, tx, part, currency, _transaction_reference(tx, reference, number)), whole=whole)
        for number, (tx, part) in enumerate(zip(transactions, parts, strict=True), start=1)
    ]


def _transaction_reference(tx, entry_reference: str, number: int) -> str:
    """A batch transaction's bank reference: its own, else the entry's with its place in the batch ("/TX2": the
    same file read again numbers it alike), else none (the fallback then tells its transactions apart)."""
    own = _text(tx, "Refs", "AcctSvcrRef")
    if own and own != entry_reference:
        return own
    return f"{entry_reference}/TX{number}" if entry_reference else ""


def _transaction_amount(tx, entry_amount, currency: str):
    """A batch transaction's amount, signed as its entry (TxDtls/AmtDtls/TxAmt, InstdAmt, or the TxDtls' own Amt
    of camt.053.001.03 on), or None where it gives none in the entry's currency."""
    for path in (("AmtDtls", "TxAmt", "Amt"), ("AmtDtls", "InstdAmt", "Amt"), ("Amt",)):
        amt = _first(tx, *path)
        if amt is not None:
            break
    else:
        return None
    sign = _text(tx, "CdtDbtInd")
    if currency_code(amt.get("Ccy")) != currency or sign not in ("", "CRDT" if entry_amount > 0 else "DBIT"):
        return None
    value = parse_decimal(amt.text, _("transaction amount"))
    if value <= 0:  # ISO 20022 amounts are unsigned: a negative part had made a batch "add up" and over-credited
        return None
    return value if entry_amount > 0 else -value


def _line(entry, tx, amount, currency: str, reference: str) -> ParsedLine:
    debtor = "Dbtr" if amount > 0 else "Cdtr"
    return ParsedLine(
        bank_reference=reference or _text(tx, "Refs", "AcctSvcrRef"),
        booking_date=_date(entry),
        amount=amount,
        currency=currency,
        payer_name=_text(tx, "RltdPties", debtor, "Nm")[:200],
        payer_account=_text(tx, "RltdPties", debtor + "Acct", "Id", "IBAN")[:60],
        remittance=" ".join(u.text.strip() for u in _all(tx, "Ustrd") if u.text) if tx is not None else "",
        creditor_reference=_text(tx, "RmtInf", "Strd", "CdtrRefInf", "Ref")[:60],
        payer_reference=_end_to_end_id(tx)[:60],
        reversal=_text(entry, "RvslInd").lower() in ("true", "1"),
    )


def _end_to_end_id(tx) -> str:
    """The payer's end-to-end id, never the transfer's identity (a payer's bank may reuse it every month; it had
    linked December's transfer to November's credit); SEPA's "NOTPROVIDED" (the payer gave none) is none."""
    value = _text(tx, "Refs", "EndToEndId")
    return "" if value.upper() == "NOTPROVIDED" else value


def _amount(element, what: str):
    amt = _first(element, "Amt")
    if amt is None:
        raise Invalid(_("The statement has no %(what)s.") % {"what": what}, code="statement_unreadable")
    value = parse_decimal(amt.text, what)
    sign = _text(element, "CdtDbtInd")
    if sign not in ("CRDT", "DBIT"):
        raise Invalid(
            _("The statement's %(what)s is neither credit nor debit.") % {"what": what}, code="statement_unreadable"
        )
    return (value if sign == "CRDT" else -value), currency_code(amt.get("Ccy"))


def _date(entry) -> date:
    text = _text(entry, "BookgDt", "Dt") or _text(entry, "BookgDt", "DtTm")[:10] or _text(entry, "ValDt", "Dt")
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise Invalid(
            _("The statement has an unreadable booking date: %(text)s.") % {"text": repr(text)},
            code="statement_unreadable",
        ) from exc


def _children(element, name: str):
    return element.findall(name) if element is not None else []


def _first(element, *path):
    return element.find("/".join(path)) if element is not None else None


def _all(element, name: str):
    return list(element.iter(name)) if element is not None else []


def _text(element, *path) -> str:
    node = _first(element, *path)
    return (node.text or "").strip() if node is not None else ""
