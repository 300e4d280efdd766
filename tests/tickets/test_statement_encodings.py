"""Statement files as banks really write them, and as nobody should: an XML statement declared in a
Chinese bank's encoding is read; a currency that is not an ISO 4217 code, an encoding we do not know, a
CSV cell past the csv module's limit and a statement that closes in another currency are each refused
with a message and nothing written (each had been a 500, the currency one on every later page)."""

from decimal import Decimal

import pytest
from djmoney.money import Money

from accounts.models import Account
from money.errors import Invalid
from tests.helpers import staff_login
from tests.tickets.conftest import chinese_csv_columns, yuan_receiving_account
from tests.tickets.statement_files import Entry, camt053, csv_statement, mt940
from tickets.models import StatementFile, StatementLine
from tickets.references import payment_reference
from tickets.statements.importing import import_statement

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def auto_credit(settings):
    settings.STATEMENT_AUTO_CREDIT = True


def run_import(bank, clerk, data, name="statement.xml"):
    return import_statement(receiving_account_id=bank.pk, data=data, name=name, actor=clerk)


def declared(data: bytes, encoding: str) -> bytes:
    """The statement re-encoded in `encoding`, its XML declaration saying so."""
    return data.decode("utf-8").replace('encoding="UTF-8"', f'encoding="{encoding}"').encode(encoding)


@pytest.mark.parametrize("encoding", ["gb18030", "GBK", "big5", "shift_jis"])
def test_a_camt_declared_in_a_multibyte_encoding_is_read(customer, bank, clerk, encoding):
    rf = payment_reference(customer.account_id)
    payer = "张三" if encoding.lower() in ("gb18030", "gbk") else "Zhang San"
    data = declared(camt053([Entry("66.00", "GB-1", payer=payer, creditor_reference=rf)]), encoding)
    result = run_import(bank, clerk, data)
    assert result.credited == 1
    assert StatementLine.objects.get().payer_name == payer
    assert Account.objects.get(pk=customer.account_id).balance == Money("66.00", "USD")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            camt053([Entry("1.00", "R-1")]).replace(b'encoding="UTF-8"', b'encoding="x-nonsense"'),
            "declares an encoding we do not know (x-nonsense)",
            id="unknown-encoding",
        ),
        *[
            pytest.param(
                camt053([Entry("1.00", "R-1")]).replace(b'encoding="UTF-8"', f'encoding="{codec}"'.encode()),
                f"declares an encoding we do not know ({codec})",
                id=f"python-only-codec-{codec}",
            )
            for codec in ("unicode_escape", "raw_unicode_escape", "punycode", "rot13", "base64")
        ],
        pytest.param(
            camt053([Entry("1.00", "R-1")]).replace(b'encoding="UTF-8"', b'encoding="utf-32"'),
            "is not utf-32 text, as it declares",
            id="declared-utf32-written-utf8",
        ),
        pytest.param(
            camt053([Entry("1.00", "R-1")]).replace(b'<Amt Ccy="USD">1.00', b'<Amt Ccy="ZZZ">1.00'),
            "Its line R-1 is in “ZZZ”, which is not a currency code",
            id="unknown-currency",
        ),
        pytest.param(
            camt053([Entry("1.00", "R-1")]).replace(b'<Amt Ccy="USD">1.00', b'<Amt Ccy="USDOLLAR">1.00'),
            "Its line R-1 is in “USDOLLAR”, which is not a currency code",
            id="long-currency",
        ),
        pytest.param(
            camt053([Entry("1.00", "R-1")]).replace(b'<Amt Ccy="USD">1.00', b'<Amt Ccy="">1.00'),
            "Its line R-1 is in “”, which is not a currency code",
            id="empty-currency",
        ),
        pytest.param(
            mt940([Entry("1.00", "R-1")]).replace(b":62F:C261130USD", b":62F:C261130EUR"),
            "The statement opens in USD and closes in EUR.",
            id="mt940-closes-in-another-currency",
        ),
    ],
)
def test_a_statement_nobody_should_write_is_refused_and_nothing_is_written(bank, clerk, data, message):
    with pytest.raises(Invalid) as refused:
        run_import(bank, clerk, data)
    assert message in refused.value.message
    assert not StatementFile.objects.exists() and not StatementLine.objects.exists()


def with_currencies(data: bytes, currencies: list[str]) -> bytes:
    """The CSV with a 币种 (currency) column, one value per line."""
    rows = data.decode("gb18030").splitlines()
    rows = [rows[0] + ",币种"] + [f"{row},{currency}" for row, currency in zip(rows[1:], currencies, strict=True)]
    return ("\n".join(rows) + "\n").encode("gb18030")


def test_a_csv_of_a_yuan_account_naming_rmb_and_renminbi_is_read_as_cny(clerk):
    """Chinese banks' exports name the currency in words: RMB and 人民币 are CNY. A line in "RMB" had been stored as
    such, and every page that adds the statement lines up failed on it."""
    yuan = yuan_receiving_account()
    chinese_csv_columns(yuan)
    data = csv_statement([Entry("500.00", "CN-1"), Entry("66.00", "CN-2")])
    run_import(yuan, clerk, with_currencies(data, ["RMB", "人民币"]), name="export.csv")
    assert set(StatementLine.objects.values_list("currency", flat=True)) == {"CNY"}


def test_a_csv_of_an_account_in_two_currencies_follows_each_currencys_balance(clerk):
    """A bank that keeps US dollars on the yuan account writes each line's balance in its own currency. Such a
    file had been refused as not adding up; each currency's lines now follow on from their own, the dollar line
    is listed and never credited, and the statement's balances are the yuan ones."""
    yuan = yuan_receiving_account()
    chinese_csv_columns(yuan)
    rows = [
        "交易日期,金额,余额,流水号,付款人,附言,币种",
        "2026-12-01,500.00,1500.00,CN-1,Alice Example,,人民币",
        "2026-12-01,66.00,266.00,US-1,Alice Example,,美元",
        "2026-12-02,7.00,1507.00,CN-2,Alice Example,,人民币",
    ]
    result = run_import(yuan, clerk, ("\n".join(rows) + "\n").encode("gb18030"), name="export.csv")
    assert result.lines == 3
    statement = StatementFile.objects.get()
    assert (statement.opening_balance, statement.closing_balance) == (Decimal("1000.00"), Decimal("1507.00"))
    dollars = StatementLine.objects.get(bank_reference="US-1")
    assert dollars.currency == "USD" and dollars.state == "other_currency"

    broken = rows[:3] + ["2026-12-02,7.00,1573.00,CN-2,Alice Example,,人民币"]  # the yuan line added to dollars
    with pytest.raises(Invalid, match="does not add up at line 4: 1500.00 plus 7.00 is not the balance 1573.00"):
        run_import(yuan, clerk, ("\n".join(broken) + "\n").encode("gb18030"), name="other.csv")


def test_a_csv_with_no_line_in_the_receiving_accounts_currency_is_refused(clerk):
    yuan = yuan_receiving_account()
    chinese_csv_columns(yuan)
    data = with_currencies(csv_statement([Entry("5.00", "US-9")]), ["USD"])
    with pytest.raises(Invalid, match="None of this CSV's lines is in CNY, the currency of the receiving account"):
        run_import(yuan, clerk, data, name="export.csv")
    assert not StatementFile.objects.exists()


def test_a_csv_line_in_no_currency_is_refused_and_the_lines_pages_keep_working(client, bank, clerk, csv_columns):
    data = with_currencies(csv_statement([Entry("5.00", "CN-9")]), ["ABC"])
    with pytest.raises(Invalid, match="Its line CN-9 is in “ABC”, which is not a currency code"):
        run_import(bank, clerk, data, name="export.csv")
    staff_login(client, clerk)
    assert client.get("/admin/tickets/statementline/").status_code == 200


def test_a_csv_cell_past_the_csv_modules_limit_is_refused_with_a_message(bank, clerk, csv_columns):
    data = csv_statement([Entry("5.00", "CN-BIG", remittance="y" * 200_000)])
    with pytest.raises(Invalid, match="This CSV could not be read"):
        run_import(bank, clerk, data, name="export.csv")
    assert not StatementLine.objects.exists()


def test_two_equal_payments_in_one_file_are_two_lines_and_importing_it_again_adds_none(bank, clerk):
    """The same fee paid twice on one day, without a reference of its own: the second had been dropped, and
    vanished from finance's to-do list (found by a helper)."""
    fee = Entry("88.00", "", remittance="monthly fee", payer="Zhang San")
    result = run_import(bank, clerk, camt053([fee, fee]))
    assert (result.lines, result.new_lines, result.unmatched) == (2, 2, 2)
    assert StatementLine.objects.count() == 2
    assert run_import(bank, clerk, camt053([fee, fee])).new_lines == 0 and StatementLine.objects.count() == 2


def test_a_statement_for_another_account_is_refused(bank, clerk):
    """It had been stored under whichever receiving account the clerk picked (found by a helper)."""
    data = camt053([Entry("10.00", "R-1")]).replace(b"DE89370400440532013000", b"GB29NWBK60161331926819")
    with pytest.raises(Invalid, match="This statement is for account GB29NWBK60161331926819, not Commerzbank AG"):
        run_import(bank, clerk, data)
    assert not StatementFile.objects.exists()


def test_a_camt_whose_balances_are_in_another_currency_than_its_account_is_refused(bank, clerk):
    data = camt053([Entry("10.00", "R-1")]).replace(
        b"<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>USD",
        b"<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR",
    )
    with pytest.raises(Invalid, match="The statement's account is in EUR, its balances in USD."):
        run_import(bank, clerk, data)
    assert not StatementFile.objects.exists()


def test_a_camt_written_in_utf16_is_recognised_and_read(customer, bank, clerk):
    """It had been taken for a CSV ("save the CSV columns first")."""
    rf = payment_reference(customer.account_id)
    data = declared(camt053([Entry("12.00", "U16-1", creditor_reference=rf)]), "utf-16")
    assert data[:2] in (b"\xff\xfe", b"\xfe\xff")
    assert run_import(bank, clerk, data).credited == 1


def test_a_file_that_is_no_statement_says_so(bank, clerk):
    with pytest.raises(Invalid, match="This is not a camt.053 \\(XML\\) or MT940 statement"):
        run_import(bank, clerk, b"hello, this is not a bank statement\n", name="notes.txt")
