"""The customer pages' top bar in Chromium, in English and in 简体中文, on every page each demo
customer has: one line from 1024 px (a small laptop, a tablet held sideways) up; below that the
menu has a line of its own, and at 390 px (a phone) it wraps inside the screen. Nothing
overlaps and nothing scrolls sideways at any width.

The language is the one stored on each user, as a person who chose it once has it.
"""

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.test_accessibility import demo  # noqa: F401 (fixture)
from tests.browser.test_enterprise_flow import enterprise  # noqa: F401 (fixture)
from tests.browser.test_languages_walk import ALICE, BOB, CAROL, DAVE, objects, sign_in_as  # noqa: F401 (fixture)
from tests.browser.test_topup_flow import quiet_page, sign_in, site_url  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LANGUAGES = ["en", "zh-hans"]
PEOPLE = {"alice": ALICE, "bob": BOB, "carol": CAROL, "dave": DAVE}
ONE_LINE = 60  # px: the bar's 56 px minimum and rounding; a second line adds about 40
NARROW = {768: 1024, 390: 844}  # width: height

MEASURE = """
() => {
  const header = document.querySelector("header.topbar");
  if (!header) return null;
  const box = (el) => el.getBoundingClientRect();
  const links = [...header.querySelectorAll("nav a")].map((a) => {
    const b = box(a);
    return { text: a.textContent.trim(), top: Math.round(b.top), left: b.left, right: b.right, bottom: b.bottom };
  });
  const parts = {};
  for (const name of ["logo", "nav", "userbox"]) {
    const b = box(header.querySelector("." + name));
    parts[name] = { top: b.top, left: b.left, right: b.right, bottom: b.bottom };
  }
  return { height: box(header).height, links, parts, width: window.innerWidth,
           sideways: document.documentElement.scrollWidth - window.innerWidth };
}
"""


def measure(page) -> dict:
    bar = page.evaluate(MEASURE)
    assert bar is not None, f"{page.url} has no customer top bar"
    return bar


def overlapping(bar: dict) -> list[str]:
    """Pairs of the bar's items whose boxes cross: links with each other, and with the logo or the userbox."""
    items = [(link["text"], link) for link in bar["links"]]
    items += [(name, bar["parts"][name]) for name in ("logo", "userbox")]
    crossing = []
    for i, (a, one) in enumerate(items):
        for b, other in items[i + 1 :]:
            apart = (
                one["right"] <= other["left"] + 0.5
                or other["right"] <= one["left"] + 0.5
                or one["bottom"] <= other["top"] + 0.5
                or other["bottom"] <= one["top"] + 0.5
            )
            if not apart:
                crossing.append(f"{a} × {b}")
    return crossing


def tidy(bar: dict, where: str) -> None:
    """At any width: nothing scrolls sideways, nothing overlaps, every link is inside the window."""
    assert bar["sideways"] <= 0, f"{where}: the page scrolls {bar['sideways']} px sideways"
    assert overlapping(bar) == [], f"{where}: overlapping {overlapping(bar)}"
    outside = [link["text"] for link in bar["links"] if link["left"] < 0 or link["right"] > bar["width"]]
    assert outside == [], f"{where}: links past the window's edge: {outside}"


def links_on_one_line(bar: dict, where: str) -> None:
    lines = sorted({link["top"] for link in bar["links"]})
    texts = [link["text"] for link in bar["links"]]
    assert len(lines) <= 1, f"{where}: the links {texts} sit on {len(lines)} lines (tops {lines})"


def one_line(bar: dict, where: str) -> None:
    """The links, the logo and who is signed in: one line."""
    links_on_one_line(bar, where)
    assert bar["height"] <= ONE_LINE, f"{where}: the bar is {bar['height']} px high"


@pytest.fixture
def shots(screenshot_dir):
    """Where this file's screenshots go: the bars side by side, to be looked at."""
    folder = screenshot_dir / "top-bar"
    folder.mkdir(exist_ok=True)
    return folder


def signed_in(page, base_url, who: str, language: str) -> None:
    User.objects.filter(username=who).update(language=language)
    sign_in_as(page, base_url, who, language)
    expect(page.locator("html")).to_have_attribute("lang", language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_customer_pages_top_bar_is_one_line_at_1024_and_1280_px(
    page,
    live_server,
    objects,  # noqa: F811  (the fixture imported above)
    shots,
    language,
):
    """Each of alice's, bob's, carol's and dave's pages (dave, an enterprise master, has the most
    links: nine) at 1024 px, and their Overview at 1280 px."""
    checked = 0
    for who, pages in PEOPLE.items():
        page.set_viewport_size({"width": 1024, "height": 768})
        signed_in(page, live_server.url, who, language)
        page.screenshot(path=shots / f"{language}-{who}-1024.png")  # first: a failure leaves it to look at
        for name, path in pages.items():
            if name == "sandbox payment page":
                continue  # the gateway's own page, with its own header
            page.goto(live_server.url + path.format(**objects))
            where = f"{who} · {name} · 1024 px · {language}"
            bar = measure(page)
            one_line(bar, where)
            tidy(bar, where)
            checked += 1
        page.goto(f"{live_server.url}/billing/")
        page.set_viewport_size({"width": 1280, "height": 900})
        bar = measure(page)
        one_line(bar, f"{who} · overview · 1280 px · {language}")
        tidy(bar, f"{who} · overview · 1280 px · {language}")
    assert checked == sum(map(len, PEOPLE.values())) - 1


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("width", NARROW)
def test_below_1024_px_the_menu_has_its_own_lines_and_nothing_overlaps(
    page,
    live_server,
    objects,  # noqa: F811  (the fixture imported above)
    shots,
    language,
    width,
):
    """At 768 px the menu is a line of its own under the logo and who is signed in; on a phone it
    wraps onto as many lines as it needs, inside the screen."""
    page.set_viewport_size({"width": width, "height": NARROW[width]})
    for who in ("bob", "dave"):  # bob: postpaid, seven links; dave: an enterprise master, nine
        signed_in(page, live_server.url, who, language)
        page.screenshot(path=shots / f"{language}-{who}-{width}.png")  # first: a failure leaves it to look at
        bar = measure(page)
        where = f"{who} · overview · {width} px · {language}"
        tidy(bar, where)
        logo, nav = bar["parts"]["logo"], bar["parts"]["nav"]
        assert nav["top"] >= logo["bottom"], f"{where}: the menu shares the logo's line"
        if width == 768:
            links_on_one_line(bar, where)


def test_a_long_name_is_cut_short_at_1024_px_and_the_links_stay_on_one_line(
    page,
    live_server,
    shots,
    enterprise,  # noqa: F811  (the fixture imported above)
):
    """Who is signed in gives way to the links: cut short, whole in the tooltip."""
    User.objects.filter(username="dave").update(first_name="Maximiliane Alexandra", last_name="Featherstonehaugh")
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, live_server.url, "dave")
    page.screenshot(path=shots / "en-long-name-1024.png")
    bar = measure(page)
    one_line(bar, "dave, with a long name · 1024 px")
    tidy(bar, "dave, with a long name · 1024 px")
    who = page.locator("header .userbox > span")
    expect(who).to_have_attribute("title", "Maximiliane Alexandra Featherstonehaugh · Dave's Enterprise")
    assert who.evaluate("(span) => span.scrollWidth > span.clientWidth"), "the name is not cut short"
