import csv
import html
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from djmoney.money import Money

from accounts.ledger import post_ledger_entry
from billing_center.csv_export import safe_cell
from tests.factories import PendingTopUpFactory, UserFactory
from tests.fakes.stripe import event, paid_session, post_webhook, signed
from tests.intake import apply_stored
from topups.models import TopUp

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client, stripe_settings):
    user = UserFactory(username="alice", email="alice@example.com")
    client.force_login(user)
    return user


def credited_topup(client, user, **kwargs) -> TopUp:
    topup = PendingTopUpFactory(account=user.account, created_by=user, **kwargs)
    post_webhook(client, *signed(event("checkout.session.completed", paid_session(topup))))
    apply_stored()
    topup.refresh_from_db()
    assert topup.status == TopUp.Status.CREDITED
    return topup


def read_csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_records_filter_by_status_and_date_and_paginate(client, alice):
    credited = credited_topup(client, alice)
    pending = [PendingTopUpFactory(account=alice.account, created_by=alice)]
    old = PendingTopUpFactory(account=alice.account, created_by=alice, status=TopUp.Status.EXPIRED)
    TopUp.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))

    page = client.get("/billing/topups/", {"status": "credited"}).content.decode()
    assert credited.reference in page and pending[0].reference not in page

    since = (timezone.now() - timedelta(days=7)).date().isoformat()
    page = client.get("/billing/topups/", {"date_from": since}).content.decode()
    assert credited.reference in page and pending[0].reference in page and old.reference not in page

    page = client.get("/billing/topups/", {"method": "bank_transfer"}).content.decode()
    assert "No top-ups match these filters" in page

    pending += [PendingTopUpFactory(account=alice.account, created_by=alice) for _ in range(25)]
    first = client.get("/billing/topups/", {"status": "pending"}).content.decode()
    older = link(first, "Older")
    assert older.startswith("?status=pending&amp;older=") and link(first, "Newer") is None
    second = client.get("/billing/topups/" + html.unescape(older)).content.decode()
    assert link(second, "Newer").startswith("?status=pending&amp;newer=") and link(second, "Older") is None
    shown = [t.reference for t in pending if t.reference in first] + [
        t.reference for t in pending if t.reference in second
    ]
    assert sorted(shown) == sorted(t.reference for t in pending)  # 20 + 6, none twice


def link(page: str, text: str) -> str | None:
    """The href of the page's pagination link whose text starts with `text` (arrows aside)."""
    found = re.search(
        rf'<a class="btn btn-secondary" href="([^"]*)" rel="(?:prev|next)">[^<]*(?:<span[^>]*>.</span> )?{text}', page
    )
    return found[1] if found else None


def test_bad_filters_are_a_400_with_a_message_not_a_500(client, alice):
    response = client.get("/billing/topups/", {"date_from": "2026-13-45", "status": "stolen"})
    assert response.status_code == 400 and "Enter a valid date" in response.content.decode()
    response = client.get("/billing/topups/", {"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert response.status_code == 400 and "start date is after the end date" in response.content.decode()
    assert client.get("/billing/topups/", {"page": "banana"}).status_code == 200


def test_records_export_csv_respects_the_filters(client, alice):
    credited = credited_topup(client, alice)
    PendingTopUpFactory(account=alice.account, created_by=alice)
    rows = read_csv(client.get("/billing/topups/", {"status": "credited", "format": "csv"}))
    assert rows[0][:4] == ["created_at", "reference", "method", "amount_paid"]
    assert len(rows) == 2 and rows[1][1] == credited.reference and rows[1][5] == "100.00"


def test_csv_file_names_say_which_filter_produced_them(client, alice):
    def name(path, **query):
        return client.get(path, {**query, "format": "csv"})["Content-Disposition"].split('filename="')[1][:-1]

    pk = alice.account_id
    assert name("/billing/topups/") == f"topups-{pk}-all.csv"
    assert name("/billing/topups/", status="credited", method="online") == f"topups-{pk}-online-credited.csv"
    assert name("/billing/statement/", kind="usage", date_from="2026-11-01", date_to="2026-11-30") == (
        f"statement-{pk}-usage-2026-11-01-to-2026-11-30.csv"
    )
    assert name("/billing/statement/", date_from="2026-11-01") == f"statement-{pk}-all-2026-11-01-to-today.csv"


def test_statement_shows_the_running_balance_and_exports_it(client, alice):
    account = alice.account
    post_ledger_entry(
        account_id=account.pk,
        amount=Money("50", "USD"),
        kind="adjustment",
        source_ref="s:1",
        description="Welcome credit",
    )
    post_ledger_entry(
        account_id=account.pk, amount=Money("-12.34", "USD"), kind="usage", source_ref="s:2", description="Compute"
    )
    page = client.get("/billing/statement/").content.decode()
    assert "-12.34 USD" in page and "37.66 USD" in page and "+50.00 USD" in page
    usage_only = client.get("/billing/statement/", {"kind": "usage"}).content.decode()
    assert "Welcome credit" not in usage_only and "Compute" in usage_only
    rows = read_csv(client.get("/billing/statement/", {"format": "csv"}))
    assert [r[3] for r in rows[1:]] == ["-12.34", "50.00"]
    assert [r[4] for r in rows[1:]] == ["37.66", "50.00"]


def test_csv_exports_neutralise_formulas(client, alice):
    post_ledger_entry(
        account_id=alice.account.pk,
        amount=Money("5", "USD"),
        kind="adjustment",
        source_ref="x:1",
        description='=HYPERLINK("http://evil.example","click")',
    )
    post_ledger_entry(
        account_id=alice.account.pk,
        amount=Money("-1", "USD"),
        kind="adjustment",
        source_ref="x:2",
        description="@SUM(1+1)",
    )
    rows = read_csv(client.get("/billing/statement/", {"format": "csv"}))
    descriptions = {r[2] for r in rows[1:]}
    assert descriptions == {'\'=HYPERLINK("http://evil.example","click")', "'@SUM(1+1)"}
    assert {r[3] for r in rows[1:]} == {"5.00", "-1.00"}  # negative amounts stay numbers


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@x", "'@x"),
        ("\t=1", "'\t=1"),
        ("-12.50", "-12.50"),
        (" =1", "' =1"),
        ("＝1", "'＝1"),
        ("plain", "plain"),
        (None, ""),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_a_credited_topup_has_a_receipt_page_and_a_pdf(client, alice):
    topup = credited_topup(client, alice)
    page = client.get(f"/billing/topups/{topup.public_id}/receipt/").content.decode()
    assert topup.reference in page and "100.00 USD" in page and str(topup.public_id) in page
    response = client.get(f"/billing/topups/{topup.public_id}/receipt.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="receipt-{topup.reference}.pdf"'
    assert response.content.startswith(b"%PDF-") and response.content.rstrip().endswith(b"%%EOF")


def test_a_converted_receipt_shows_the_rate(client, alice, screenshot_dir):
    topup = credited_topup(
        client,
        alice,
        amount=Money("710.00", "CNY"),
        credit_amount=Money("100.00", "USD"),
        exchange_rate="7.1",
        rate_source="finance",
        rate_as_of=timezone.now(),
    )
    page = client.get(f"/billing/topups/{topup.public_id}/receipt/").content.decode()
    assert "710.00 CNY" in page and "1 USD = 7.1000 CNY" in page
    pdf = client.get(f"/billing/topups/{topup.public_id}/receipt.pdf")
    assert pdf.status_code == 200
    (screenshot_dir.parent / "receipt-cny.pdf").write_bytes(pdf.content)  # an artifact to look at
    records = client.get("/billing/topups/").content.decode()
    on_a_phone = records.split('<div class="show-phone small muted">', 1)[1].split("</div>", 1)[0]
    assert "credited 100.00 USD" in on_a_phone and topup.method in on_a_phone  # the columns a phone hides


def test_receipts_are_private_and_only_for_credited_topups(client, alice):
    stranger = UserFactory()
    other = credited_topup(client, stranger)
    pending = PendingTopUpFactory(account=alice.account, created_by=alice)
    for topup in (other, pending):
        assert client.get(f"/billing/topups/{topup.public_id}/receipt/").status_code == 404
        assert client.get(f"/billing/topups/{topup.public_id}/receipt.pdf").status_code == 404
    client.logout()
    response = client.get(f"/billing/topups/{other.public_id}/receipt.pdf")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("url", ["/billing/topups/", "/billing/statement/"])
@pytest.mark.parametrize(
    "params",
    [{"date_to": "9999-12-31"}, {"date_from": "0001-01-01"}, {"date_from": "2026-02-01", "date_to": "2026-01-01"}],
)
def test_out_of_range_dates_are_a_400_and_a_csv_is_never_exported_unfiltered(client, alice, url, params):
    assert client.get(url, params).status_code == 400
    response = client.get(url, {**params, "format": "csv"})
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
