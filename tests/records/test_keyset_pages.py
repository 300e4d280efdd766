"""Growing lists are read a page at a time from where the last one stopped: "Older" and back
"Newer" show every row exactly once, in order, even rows with equal times; filters stay on the
links; the database is never asked to count them all or to skip rows (no COUNT, no OFFSET)."""

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from djmoney.money import Money

from accounts.ledger import NewEntry, post_ledger_entries
from accounts.models import BalanceAlert, LedgerEntry
from tests.factories import PendingTopUpFactory, UserFactory
from tests.tickets.conftest import usd_receiving_account
from tickets.models import Invoice, TransferTicket
from topups.models import TopUp

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client):
    user = UserFactory(username="alice")
    client.force_login(user)
    return user


# An entry as its Description column shows it (a phone shows it once more, under the date).
IN_COLUMN = r'(?<=<td class="hide-phone">)entry-\d{5}'


def post_batch(account, first: int, count: int, *, kind: str = "usage", when=None) -> None:
    """`count` entries in one posting: one time for all of them, as a batch of charges has."""
    amount = "-0.50" if kind == "usage" else "100.00"
    entries = [
        NewEntry(account.pk, Money(amount, "USD"), kind, f"walk:{n}", description=f"entry-{n:05d}")
        for n in range(first, first + count)
    ]
    post_ledger_entries(entries, now=when or timezone.now())


def link(page: str, text: str) -> str | None:
    """The href of the page's "Older" or "Newer" link, as the browser would follow it."""
    found = re.search(rf'href="([^"]*)" rel="(?:prev|next)">(?:<span[^>]*>.</span> )?{text}', page)
    return html.unescape(found[1]) if found else None


def walk(client, path: str, marker: str, direction: str, start: str = "") -> tuple[list[str], str]:
    """Follow `direction` links from `start` until there is none: every row marker in the order
    shown, and the last page's query."""
    shown, query = [], start
    for _ in range(100):
        page = client.get(path + query).content.decode()
        shown += re.findall(marker, page)
        following = link(page, direction)
        if following is None:
            return shown, query
        query = following
    raise AssertionError("the walk did not end")


def walk_there_and_back(client, path: str, marker: str, *, query: str = "") -> tuple[list[str], list[str]]:
    """All rows walking older from the newest page, then newer back from the oldest one (the
    pages read newest first, so the way back is listed in the order it is shown page by page)."""
    older, last = walk(client, path, marker, "Older", start=query)
    pages_back = []
    page_query = last
    for _ in range(100):
        page = client.get(path + page_query).content.decode()
        pages_back.insert(0, re.findall(marker, page))
        following = link(page, "Newer")
        if following is None:
            break
        page_query = following
    return older, [row for rows in pages_back for row in rows]


def test_the_statement_walks_older_and_back_newer_showing_every_entry_once(client, alice):
    account = alice.account
    now = timezone.now()
    # 67 entries: three postings of 20 at one instant each (two of them at the very same
    # instant, as two batches can be), and 7 lone ones; pages of 25 cut through the batches.
    post_batch(account, 0, 20, kind="adjustment", when=now - timedelta(hours=3))
    post_batch(account, 20, 20, when=now - timedelta(hours=2))
    post_batch(account, 40, 20, when=now - timedelta(hours=2))
    for n in range(60, 67):
        post_batch(account, n, 1, when=now - timedelta(minutes=67 - n))
    expected = [e.description for e in LedgerEntry.objects.filter(account=account).order_by("-created_at", "-id")]

    older, newer = walk_there_and_back(client, "/billing/statement/", IN_COLUMN)

    assert older == expected
    assert newer == expected
    assert len(set(older)) == 67


def test_the_statement_keeps_its_filters_on_every_page(client, alice):
    account = alice.account
    now = timezone.now()
    post_batch(account, 0, 30, kind="adjustment", when=now - timedelta(days=3))
    post_batch(account, 30, 40, when=now - timedelta(days=2))
    post_batch(account, 70, 10, when=now - timedelta(days=1))
    day = timezone.localdate(now - timedelta(days=2)).isoformat()
    usage_that_day = [f"entry-{n:05d}" for n in range(69, 29, -1)]

    older, newer = walk_there_and_back(
        client, "/billing/statement/", IN_COLUMN, query=f"?kind=usage&date_from={day}&date_to={day}"
    )

    assert sorted(older) == sorted(usage_that_day) == sorted(newer)
    assert older == newer and len(older) == 40
    filters = f"?kind=usage&date_from={day}&date_to={day}"
    first = client.get(f"/billing/statement/{filters}").content.decode()
    assert link(first, "Older").startswith(f"{filters}&older=")
    second = client.get("/billing/statement/" + link(first, "Older")).content.decode()
    export = f'href="{filters.replace("&", "&amp;")}&amp;format=csv"'  # the whole filtered list, not a page
    assert export in first and export in second


def test_a_deep_page_costs_no_count_and_no_offset(client, alice):
    post_batch(alice.account, 0, 120)
    _, deep = walk(client, "/billing/statement/", IN_COLUMN, "Older")
    for path in ("/billing/statement/", f"/billing/statement/{deep}", "/billing/topups/", "/billing/tickets/"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        statements = " ".join(query["sql"].upper() for query in queries.captured_queries)
        assert "COUNT(*)" not in statements, path  # what a Paginator's count asks
        assert "OFFSET" not in statements, path


@pytest.mark.parametrize(
    "cursor",
    [
        "older=banana",
        "older=t1.1.1.1",
        "older=t99999999999999999999.1",
        "older=t9999999999999999999.1",  # beyond the calendar
        "older=t1.99999999999999999999",
        "older=d738000.5",  # a date where the list is by time
        "older=n5.5",
        "older=t1.UPPER.5",
        "newer=t1.0",
        "older=t1.1",  # before the first entry: nothing older, the newest page
        "older=t1764000000000000.1&newer=t1764000000000000.2",  # both: read as older
        "page=7",
    ],
)
def test_a_cursor_that_is_not_one_of_the_list_shows_the_newest_page(client, alice, cursor):
    post_batch(alice.account, 0, 30)
    for path in (
        "/billing/statement/",
        "/billing/topups/",
        "/billing/tickets/",
        "/billing/alerts/",
        "/billing/invoices/",
    ):
        assert client.get(f"{path}?{cursor}").status_code == 200, (path, cursor)
    assert "entry-00029" in client.get(f"/billing/statement/?{cursor}").content.decode()  # the newest entry


def test_top_up_records_merge_top_ups_and_tickets_with_equal_times(client, alice):
    """Top-ups and tickets at the very same instant, with colliding ids, each shown once."""
    account = alice.account
    bank = usd_receiving_account()
    same = timezone.now() - timedelta(hours=1)
    topups = [PendingTopUpFactory(account=account, created_by=alice) for _ in range(23)]
    TopUp.objects.filter(pk__in=[t.pk for t in topups[:15]]).update(created_at=same)
    from bench.data import add_tickets

    add_tickets(account=account, user=alice, bank=bank, count=22)
    TransferTicket.objects.filter(account=account).update(submitted_at=same)
    references = [t.reference for t in topups] + list(
        TransferTicket.objects.filter(account=account).values_list("number", flat=True)
    )
    marker = r">(TU-[0-9A-F]{12}|BT-\d+-\d+)</a>"  # the link's text (a ticket's URL names it too)

    older, newer = walk_there_and_back(client, "/billing/topups/", marker)

    assert sorted(older) == sorted(references) == sorted(newer)
    assert older == newer and len(set(older)) == 45


def test_tickets_invoices_and_alerts_walk_every_row_once(client, alice):
    account = alice.account
    bank = usd_receiving_account()
    from bench.data import add_balance_alerts, add_invoices, add_tickets

    add_tickets(account=account, user=alice, bank=bank, count=45)
    add_invoices(account=account, bank=bank, count=45)  # all issued today: by id
    add_balance_alerts(account=account, count=45)
    BalanceAlert.objects.filter(account=account, crossing__lte=30).update(created_at=timezone.now())
    cases = {
        "/billing/tickets/": (r">(BT-\d+-\d+)</a>", TransferTicket.objects.filter(account=account).count()),
        # bench.data numbers them INV-2026-<account id, 3 digits or more><7 digits>: an account id past 999 (the
        # full suite on PostgreSQL, whose sequences run on) had matched nothing.
        "/billing/invoices/": (r">(INV-2026-\d{10,})</a>", Invoice.objects.filter(account=account).count()),
        "/billing/alerts/": (r"threshold of 50.00 USD \((\d+)\)", 45),
    }
    for path, (marker, total) in cases.items():
        older, newer = walk_there_and_back(client, path, marker)
        assert len(older) == len(set(older)) == total, path
        assert older == newer, path
