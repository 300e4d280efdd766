"""Statement files as banks really write them, and as nobody should: an XML statement declared in a
Chinese bank's encoding is read; a currency that is not an ISO 4217 code, an encoding we do not know, a
CSV cell past the csv module's limit and a statement that closes in another currency are each refused
with a message and nothing written (each had been a 500, the currency one on every later page)."""

import pytest
from djmoney.money import Money

from accounts.models import Account
from money.errors import Invalid
from tests.helpers import staff_login
from tests.tickets.statement_files import Entry, camt053, csv_statement, mt940
from tickets.models import StatementCsvFormat, StatementFile, StatementLine
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


@pytest.fixture
def csv_columns(bank):
    return StatementCsvFormat.objects.create(
        receiving_account=bank,
        encoding="gb18030",
        date_column="交易日期",
        amount_column="金额",
        balance_column="余额",
        reference_column="流水号",
        payer_column="付款人",
        remittance_column="附言",
        currency_column="币种",
    )


def with_currencies(data: bytes, currencies: list[str]) -> bytes:
    """The CSV with a 币种 (currency) column, one value per line."""
    rows = data.decode("gb18030").splitlines()
    rows = [rows[0] + ",币种"] + [f"{row},{currency}" for row, currency in zip(rows[1:], currencies, strict=True)]
    return ("\n".join(rows) + "\n").encode("gb18030")


def test_a_csv_of_a_yuan_account_naming_rmb_and_renminbi_is_read_as_cny(clerk):
    """Chinese banks' exports name the currency in words: RMB and 人民币 are CNY. A line in "RMB" had been stored as
    such, and every page that adds the statement lines up failed on it."""
    from tickets.models import ReceivingAccount
    from tickets.receiving_accounts import add_receiving_account

    yuan = add_receiving_account(
        account=ReceivingAccount(
            bank_name="Bank of China",
            account_name="Billing Center Cloud Ltd",
            account_number="6222000011112222",
            currency="CNY",
            region="Mainland China",
        )
    )
    StatementCsvFormat.objects.create(
        receiving_account=yuan,
        encoding="gb18030",
        date_column="交易日期",
        amount_column="金额",
        balance_column="余额",
        reference_column="流水号",
        currency_column="币种",
    )
    data = csv_statement([Entry("500.00", "CN-1"), Entry("66.00", "CN-2")])
    run_import(yuan, clerk, with_currencies(data, ["RMB", "人民币"]), name="export.csv")
    assert set(StatementLine.objects.values_list("currency", flat=True)) == {"CNY"}


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
