"""Paying by keyboard alone, and the return page that updates itself without reloading,
in real headless Chromium against a live server."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import LedgerEntry
from tests.browser.test_topup_flow import PASSWORD, alice, quiet_page, sign_in, site_url  # noqa: F401 (fixtures)
from topups.models import TopUp

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOCUSED = """() => {
  const e = document.activeElement, style = getComputedStyle(e), box = e.getBoundingClientRect();
  return {tag: e.tagName.toLowerCase(), id: e.id, inMain: !!e.closest("main"),
          name: (e.getAttribute("aria-label") || e.innerText || e.value || "").trim(),
          ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
          onScreen: box.bottom > 0 && box.right > 0 && box.top < innerHeight && box.left < innerWidth};
}"""


def focused(page) -> dict:
    return page.evaluate(FOCUSED)


def tab_to(page, *, name: str = "", element_id: str = "", limit: int = 60) -> dict:
    """Press Tab until the named control has focus; every stop on the way must show where focus is."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = focused(page)
        assert now["ring"], f"focus on {now} is not visible"
        if (element_id and now["id"] == element_id) or (name and now["name"] == name):
            assert now["onScreen"], f"{now} has focus but is off screen"
            return now
    raise AssertionError(f"Tab never reached {name or element_id!r}")


@pytest.mark.usefixtures("alice")
@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_alice_pays_by_keyboard_alone_from_sign_in_to_her_receipt(page, live_server, width, height):
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/login/")
    assert focused(page)["id"] == "id_username"  # the sign-in form starts in its first field
    page.keyboard.type("alice")
    tab_to(page, element_id="id_password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/billing/$"))
    # A person reads the page before pressing Tab; until "load", Chromium may apply the
    # fragment of the skip link again and pull focus back to <main> after our Tab.
    page.wait_for_load_state("load")

    # The first Tab reaches "Skip to content", which jumps past the navigation into the page.
    page.keyboard.press("Tab")
    skip = focused(page)
    assert skip["name"] == "Skip to content" and skip["onScreen"] and skip["ring"]
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/billing/#main$"))
    page.wait_for_load_state("load")
    assert focused(page)["id"] == "main"
    page.keyboard.press("Tab")
    first = focused(page)
    assert first["inMain"] and first["ring"], f"the Tab after the skip link went to {first}"
    if first["name"] != "Top Up":
        tab_to(page, name="Top Up")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/billing/pay/$"))

    tab_to(page, element_id="id_amount")
    page.keyboard.type("25")
    tab_to(page, name="Next")
    page.keyboard.press("Space")
    expect(page).to_have_url(re.compile(r"/sandbox-gateway/checkout/sbx_"))

    tab_to(page, name="Pay 25.00 USD")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/billing/topups/[0-9a-f-]+/$"))
    expect(page.get_by_test_id("status")).to_have_text("Credited", timeout=15000)
    tab_to(page, name="View receipt")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/billing/topups/[0-9a-f-]+/receipt/$"))
    expect(page.locator("main")).to_contain_text("25.00 USD")
    assert LedgerEntry.objects.filter(kind="online_topup").count() == 1


@pytest.mark.usefixtures("alice")
def test_the_waiting_page_updates_itself_without_reloading_once_the_payment_is_confirmed(
    page, live_server, screenshot_dir
):
    sign_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/billing/pay/")
    page.fill("#id_amount", "30")
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(re.compile(r"/sandbox-gateway/checkout/sbx_"))
    checkout_url = page.url
    topup = TopUp.objects.get()

    # Back at Billing Center before paying: the page waits for the gateway, without a meta refresh.
    page.goto(f"{live_server.url}/billing/topups/{topup.public_id}/")
    expect(page.get_by_test_id("status")).to_have_text("Awaiting payment")
    expect(page.locator("meta[http-equiv='refresh' i]")).to_have_count(0)
    expect(page.get_by_test_id("status-announcement")).to_have_text("")
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=screenshot_dir / f"topup-waiting-{width}.png", full_page=True)
    page.evaluate("window.stillTheSamePage = true")  # gone if the page reloads
    loads = []
    page.on("load", lambda loaded: loads.append(loaded.url))
    page.get_by_role("link", name="Continue to payment").focus()

    # The customer pays in another tab; this one learns of it by itself.
    other = page.context.new_page()
    other.goto(checkout_url)
    other.get_by_role("button", name="Pay 30.00 USD").click()
    expect(other.get_by_test_id("status")).to_have_text("Credited", timeout=15000)
    other.close()

    expect(page.get_by_test_id("status")).to_have_text("Credited", timeout=15000)
    expect(page.get_by_test_id("status-announcement")).to_have_text("Payment received — your balance has been credited")
    expect(page.get_by_role("heading", name="Payment received")).to_be_focused()  # its old place is gone
    expect(page.get_by_role("link", name="View receipt")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True and loads == []
    page.screenshot(path=screenshot_dir / "topup-updated-390.png", full_page=True)
    assert LedgerEntry.objects.filter(kind="online_topup").count() == 1
