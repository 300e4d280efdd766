"""The statement's CSV streams in constant memory, however long the history: the rows are read a
chunk per query from where the last chunk stopped, and written out before the next is read.
No server-side cursor either (production's PgBouncer, in transaction mode, would lose it)."""

import csv
import io
import tracemalloc

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.exports import CHUNK
from bench.data import add_ledger_history
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client, monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)  # as behind PgBouncer
    user = UserFactory(username="alice")
    client.force_login(user)
    return user


def lines_and_peak(response) -> tuple[int, int]:
    """The lines of the download, counted as they stream and let go, and the most Python memory
    held meanwhile."""
    tracemalloc.start()
    try:
        lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
        return lines, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_statement_csv_of_ten_times_the_entries_needs_no_more_memory(client, alice):
    add_ledger_history(account=alice.account, count=2_000)
    small, small_peak = lines_and_peak(client.get("/billing/statement/", {"format": "csv"}))
    add_ledger_history(account=alice.account, count=18_000, start=2_000)
    with CaptureQueriesContext(connection) as queries:
        large, large_peak = lines_and_peak(client.get("/billing/statement/", {"format": "csv"}))

    assert (small, large) == (2_001, 20_001)  # every entry, and the heading
    assert large_peak < 1.5 * small_peak, f"{small_peak:,} bytes for 2,000 rows, {large_peak:,} for 20,000"
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "accounts_ledgerentry"')]
    assert len(reads) == 20_000 // CHUNK + 1  # one short query per chunk (the last one finds the end)
    assert all(f"LIMIT {CHUNK}" in sql for sql in reads)


def test_the_statement_csv_lists_entries_newest_first_with_their_running_balance(client, alice):
    add_ledger_history(account=alice.account, count=2 * CHUNK + 7)  # chunks end mid-way through a posting
    body = b"".join(client.get("/billing/statement/", {"format": "csv"}).streaming_content)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1:]
    entries = list(alice.account.ledger_entries.order_by("-created_at", "-id").values_list("source_ref", flat=True))
    assert [row[6] for row in rows] == entries
    alice.account.refresh_from_db()
    assert rows[0][4] == f"{alice.account.balance.amount:.2f}"
