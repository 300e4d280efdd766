"""alice reads a long statement in Chromium a page at a time: "Older" to its first entry and
"Newer" back, at 1280 and 390 px. Every entry is shown once, in order, though whole batches of
charges share one time; the type filter stays on every page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.ledger import NewEntry, post_ledger_entries
from accounts.models import LedgerEntry
from tests.browser.test_topup_flow import alice, quiet_page, sign_in, site_url  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def charge_batches(account) -> list[str]:
    """Three batches of 20 hourly charges, each batch posted at one instant, and two lone
    credits; the amounts name the entries (cents 1…62), newest first as the statement lists them."""
    now = timezone.now()
    for batch in range(3):
        post_ledger_entries(
            [
                NewEntry(account.pk, Money(f"-0.{batch * 20 + n + 1:02d}", "USD"), "usage", f"walk:{batch}:{n}")
                for n in range(20)
            ],
            now=now - timedelta(hours=3 - batch),
        )
    for n in (61, 62):
        post_ledger_entries([NewEntry(account.pk, Money(f"0.{n}", "USD"), "adjustment", f"walk:credit:{n}")])
    entries = LedgerEntry.objects.filter(account=account).order_by("-created_at", "-id")
    return [f"{entry.amount.amount:+.2f}" for entry in entries]


def amounts_on(page) -> list[str]:
    """The amounts of the page's rows as the statement shows them ("-0.07 USD", "+0.61 USD")."""
    cells = page.locator("table.data tbody td.amount:not(:last-child)").all_inner_texts()
    return [f"{Decimal(text.split()[0].replace(',', '')):+.2f}" for text in cells]


def walk(page, link: str) -> list[list[str]]:
    """Each page's amounts, following `link` until the page has none."""
    pages = [amounts_on(page)]
    while page.get_by_role("link", name=link).count():
        page.get_by_role("link", name=link).click()
        expect(page.get_by_test_id("more-pages")).to_be_visible()
        pages.append(amounts_on(page))
    return pages


@pytest.mark.parametrize("width", WIDTHS)
def test_older_and_back_newer_shows_every_entry_once(page, live_server, alice, screenshot_dir, width):  # noqa: F811
    expected = charge_batches(alice.account)  # with the seed's credit: 63 entries, three pages
    page.set_viewport_size(WIDTHS[width])
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/statement/")

    older = walk(page, "Older")
    page.screenshot(path=screenshot_dir / f"statement-oldest-page-{width}.png", full_page=True)
    newer = walk(page, "Newer")

    assert [len(rows) for rows in older] == [25, 25, 13]
    assert [amount for rows in older for amount in rows] == expected
    assert [amount for rows in reversed(newer) for amount in rows] == expected
    expect(page.get_by_role("link", name="Newer")).to_have_count(0)  # back on the newest page


def test_the_type_filter_stays_on_every_page(page, live_server, alice):  # noqa: F811
    charge_batches(alice.account)
    page.set_viewport_size(WIDTHS["desktop"])
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/statement/")
    page.select_option("#id_kind", "usage")
    page.get_by_role("button", name="Filter").click()

    pages = walk(page, "Older")

    assert [len(rows) for rows in pages] == [25, 25, 10]
    assert all(amount.startswith("-") for rows in pages for amount in rows)
    expect(page.locator("#id_kind")).to_have_value("usage")
