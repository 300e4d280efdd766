"""Every customer page and finance's pages in Chromium, in 简体中文 and in English: no UI word
of the other language is left.

The language is chosen as a person does: the header's switch on the sign-in page (a cookie),
then signing in. Each page's visible text, and the words only some people meet (placeholders,
titles, aria-labels, button values), are read from the DOM; what is data is set aside before
looking: names, IBANs, references, amounts, codes, e-mail addresses and URLs, every text stored
in the database (account names, bank names, descriptions a person or a service wrote) and IANA
time zone names — each as a whole phrase, never word by word —, the brand's product names, and
text marked with its own `lang` (the switch's "English"). What is left must be Chinese on a
zh-hans page and English on an en page.

The header and footer (base.html, core) must be clean on every page. The pages of the other
areas are listed in STILL_ENGLISH with whose they are until their translations are merged; a
page listed there that has become clean fails too, so the list only shrinks.
"""

import re
import shutil
import subprocess
from decimal import Decimal
from zoneinfo import available_timezones

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models
from djmoney.money import Money
from playwright.sync_api import expect

from accounts.models import LedgerEntry, User
from accounts.outbound_webhooks.endpoints import register_endpoint
from bills.models import Bill, Settlement
from tests.browser.test_accessibility import demo  # noqa: F401 (fixture)
from tests.browser.test_topup_flow import quiet_page, site_url  # noqa: F401 (fixtures)
from tests.helpers import current_otp
from tests.tickets.statement_files import Entry, camt053
from tickets.models import ReceivingAccount, StatementLine, TicketEvent
from tickets.references import payment_reference
from tickets.review import confirm_and_credit
from tickets.statements.importing import import_statement

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Page name → whose catalogue still has to translate it (i18n areas, billing_center.catalogues).
# Empty it as the customer and finance translations are merged.
CUSTOMER, FINANCE_AREA = "customer (accounts, bills, topups)", "finance (tickets, admin)"
STILL_ENGLISH: dict[str, str] = {}

ALICE = {
    "overview": "/billing/",
    "pay": "/billing/pay/",
    "top-up records": "/billing/topups/",
    "statement": "/billing/statement/",
    "bank transfer": "/billing/pay/bank-transfer/",
    "transfer tickets": "/billing/tickets/",
    "new ticket": "/billing/tickets/new/",
    "ticket": "/billing/tickets/{ticket}/",
    "invoices": "/billing/invoices/",
    "invoice": "/billing/invoices/{invoice}/",
    "alert history": "/billing/alerts/",
    "preferences": "/account/preferences/",
    "auto top-up": "/billing/pay/auto/",
    "top-up": "/billing/topups/{credited}/",
    "receipt": "/billing/topups/{credited}/receipt/",
    "sandbox payment page": "{pending_checkout}",
    "language and time zone": "/billing/language/",
    "webhooks": "/billing/developers/webhooks/",
    "webhook endpoint": "/billing/developers/webhooks/{endpoint}/",
    "API reference": "/api/v1/docs",
    "statement, filtered by type": "/billing/statement/?kind=usage",
    "top-up records, filtered": "/billing/topups/?method=&status=credited",
    "top-up records, a bad filter": "/billing/topups/?date_from=2026-12-31&date_to=2026-01-01",
}
BOB = {
    "bills": "/billing/bills/",
    "bill": "/billing/bills/{bill}/",
    "repay": "/billing/repay/",
    "repay by bank transfer": "/billing/repay/bank-transfer/",
}
CAROL = {"member overview": "/billing/"}
DAVE = {"enterprise": "/billing/enterprise/"}
FINANCE = {
    "admin home": "/admin/",
    "ticket queue": "/admin/tickets/transferticket/",
    "a ticket in admin": "/admin/tickets/transferticket/{ticket_pk}/change/",
    "statements": "/admin/tickets/statementfile/",
    "statement lines": "/admin/tickets/statementline/",
    "a statement line": "/admin/tickets/statementline/{line_pk}/change/",
    "a statement file": "/admin/tickets/statementfile/{statement_pk}/change/",
    "top-ups in admin": "/admin/topups/topup/",
    "a top-up in admin": "/admin/topups/topup/{credited_pk}/change/",
    "holiday calendar": "/admin/tickets/calendarday/",
    "a new calendar day": "/admin/tickets/calendarday/add/",
    "receiving accounts": "/admin/tickets/receivingaccount/",
    "invoices in admin": "/admin/tickets/invoice/",
    "statement upload": "/admin/tickets/statementfile/add/",
    "statement CSV formats": "/admin/tickets/statementcsvformat/",
    "bills in admin": "/admin/bills/bill/",
    "a bill in admin": "/admin/bills/bill/{bill_pk}/change/",
    "postpaid accounts": "/admin/bills/postpaidaccount/",
    "refunds": "/admin/topups/refund/",
    "disputes": "/admin/topups/dispute/",
    "rate sheets": "/admin/topups/ratesheet/",
    "accounts in admin": "/admin/accounts/account/",
    "ledger entries": "/admin/accounts/ledgerentry/",
    "SMS log": "/admin/accounts/outboundsms/",
    "balance alerts": "/admin/accounts/balancealert/",
    "a ticket's history": "/admin/tickets/transferticket/{ticket_pk}/history/",
}
VISITOR = {"sign in": "/login/", "not found": "/no-such-page/"}

# Product and scheme names, shown as they are in both languages.
NAMES = {"BC", "SandboxPay", "Visa", "Stripe", "Webhook", "Webhooks", "Standard", "Django", "https", "OpenAPI"}
DATA_PATTERNS = [
    re.compile(r"\S+@\S+\.\w+"),  # e-mail addresses
    re.compile(r"https?://\S+|/\S*/"),  # URLs and paths
    re.compile(r"\b[\w.-]*\d[\w.-]*\b"),  # anything with a digit: amounts, references, IBANs, dates
    re.compile(r"\b[A-Z]{2,6}\b"),  # codes: USD, CNY, IBAN, SWIFT, API, PDF
    re.compile(r"\b[A-Z]{2}\$|[A-Z]{2}¥"),  # US$, JP¥
]
# Each language's own name, shown in that language on every page (the switch, the language page).
LANGUAGE_NAMES = re.compile("|".join(re.escape(name) for _, name in settings.LANGUAGES))
WORD = re.compile(r"[A-Za-z][A-Za-z'’]+")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]+")

READ_TEXT = """
(selector) => {
  const pageLang = (document.documentElement.lang || "").toLowerCase();
  const foreign = (el) => {
    for (let e = el; e; e = e.parentElement) {
      if (["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE"].includes(e.tagName)) return true;
      const lang = e.getAttribute && e.getAttribute("lang");
      if (lang && e !== document.documentElement && lang.toLowerCase() !== pageLang) return true;
    }
    return false;
  };
  const found = [];
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!el || foreign(el) || !node.textContent.trim()) continue;
      if (el.tagName !== "OPTION" && !el.checkVisibility({ visibilityProperty: true })) continue;
      found.push(node.textContent.trim());
    }
    const labelled = "[placeholder], [title], [aria-label], [alt], input[type=submit], input[type=button]";
    for (const el of root.querySelectorAll(labelled)) {
      if (foreign(el)) continue;
      for (const name of ["placeholder", "title", "aria-label", "alt"]) {
        if (el.getAttribute(name)) found.push(el.getAttribute(name));
      }
      if (el.tagName === "INPUT" && ["submit", "button"].includes(el.type) && el.value) found.push(el.value);
    }
  }
  return found;
}
"""


# Texts our own code writes with their parts (accounts.descriptions): the field and its parts.
WITH_PARTS = {
    LedgerEntry: [("description", "description_parts")],
    Settlement: [("note", "note_parts")],
    TicketEvent: [("body", "body_parts")],
    StatementLine: [("explanation", "explanation_parts"), ("suggestions", "suggestion_parts")],
}


def data_phrases() -> list[str]:
    """Every text stored in our apps' tables (names, descriptions, banks, texts people wrote),
    the merchant's name and the time zone names: data, in whatever language it was written.
    Set aside as whole phrases, longest first, never word by word: a stored "Top-up of 40.00 USD"
    must not excuse a lone untranslated "Top-up" or "the" elsewhere on a Chinese page. The ledger
    descriptions our own code writes are not data: they carry their parts (accounts.descriptions)
    and must read in the page's language; only older rows and a caller's own are set aside."""
    phrases = {settings.MERCHANT_NAME, *available_timezones()}
    for label in ("accounts", "bills", "topups", "tickets"):
        for model in apps.get_app_config(label).get_models():
            fields = [
                f.name
                for f in model._meta.concrete_fields
                if isinstance(f, models.CharField | models.TextField) and not f.choices
            ]
            for text, parts in WITH_PARTS.get(model, []):  # only texts without parts are data: ours are read
                fields.remove(text)  # in the page's language
                theirs = model._default_manager.filter(**{f"{parts}__isnull": True}).values_list(text, flat=True)
                phrases.update(value.strip() for value in theirs if WORD.search(value))
            for row in model._default_manager.values_list(*fields) if fields else ():
                phrases.update(value.strip() for value in row if value and WORD.search(value))
    return sorted(phrases, key=len, reverse=True)


def without_data(text: str, phrases: list[str]) -> str:
    for phrase in phrases:
        if phrase in text:
            text = text.replace(phrase, " ")
    return text


def leftovers(texts: list[str], language: str, phrases: list[str]) -> list[str]:
    """The words of the wrong language in `texts`, data set aside."""
    wrong = []
    for index, text in enumerate(texts):
        text = without_data(text, phrases)
        for pattern in (*DATA_PATTERNS, LANGUAGE_NAMES):
            text = pattern.sub(" ", text)
        if language == "zh-hans":
            words = [w for w in WORD.findall(text) if w not in NAMES]
        else:
            words = [w for w in CJK.findall(text) if not set(w) <= set("，。：；、（）　·")]
        wrong += [f"{' '.join(words)} «{original[:60]}»" for original in [texts[index]] if words]
    return wrong


class Walk:
    def __init__(self, page, base_url, objects, language):
        self.page, self.base_url, self.objects, self.language = page, base_url, objects, language
        self.phrases = data_phrases()
        self.chrome: list[str] = []  # header and footer problems: always fail
        self.pages: dict[str, list[str]] = {}  # page → words left in its content
        self.seen = 0

    def visit(self, who: str, pages: dict[str, str], screenshot_dir=None):
        for name, path in pages.items():
            response = self.page.goto(self.base_url + path.format(**self.objects))
            expected = 404 if name == "not found" else 400 if "bad filter" in name else 200
            assert response.status == expected, f"{who} · {name}: {response.status}"
            self.read(who, name, screenshot_dir)

    def read(self, who: str, name: str, screenshot_dir=None):
        """The page now open: its header and footer, then its content."""
        expect(self.page.locator("html")).to_have_attribute("lang", re.compile(self.language.split("-")[0]))
        chrome = leftovers(self.page.evaluate(READ_TEXT, "header.topbar, footer.foot"), self.language, self.phrases)
        if chrome:
            self.chrome.append(f"{who} · {name}: {sorted(set(chrome))}")
        content = "#container" if "/admin/" in self.page.url else "#main"
        words = leftovers(self.page.evaluate(READ_TEXT, content), self.language, self.phrases)
        if words:
            self.pages[name] = sorted(set(words))
        self.seen += 1
        if screenshot_dir is not None:
            slug = re.sub(r"[^a-z0-9]+", "-", f"{who} {name}".lower()).strip("-")
            self.page.screenshot(path=screenshot_dir / f"{self.language}-{slug}.png", full_page=True)

    def older_page(self, who: str, path: str, screenshot_dir=None):
        """A keyset-paged list's second page (Newer, Newest and Older links all showing)."""
        self.page.goto(self.base_url + path)
        with self.page.expect_navigation():
            self.page.get_by_test_id("more-pages").locator("a[rel=next]").click()
        expect(self.page.get_by_test_id("more-pages").locator("a[rel=prev]")).to_be_visible()
        self.read(who, f"{path}, older page", screenshot_dir)


def choose_language(page, base_url, language):
    """On the sign-in page, as a visitor: the header's switch (it offers the other language)."""
    page.context.clear_cookies()
    page.goto(f"{base_url}/login/")
    current = page.locator("html").get_attribute("lang")
    if current != language:
        with page.expect_navigation():
            page.get_by_test_id("language-switch").locator("button").click()
    expect(page.locator("html")).to_have_attribute("lang", language)


def sign_in_as(page, base_url, username, language):
    choose_language(page, base_url, language)
    page.fill("#id_username", username)
    page.fill("#id_password", settings.DEMO_PASSWORD)
    with page.expect_navigation():
        page.locator("#main form[method=post] .btn-primary").click()
    expect(page).to_have_url(re.compile(r"/billing/$"))


def sign_in_to_admin_as(page, base_url, username, language):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    choose_language(page, base_url, language)
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", settings.DEMO_PASSWORD)
    page.fill("#id_otp_token", current_otp(TOTPDevice.objects.get(user__username=username)))
    with page.expect_navigation():
        page.click("input[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/$"))


def receipt_picture(page, url, folder, language):
    """The receipt's PDF as alice downloads it, its first page as a PNG to look at (pdftoppm)."""
    response = page.context.request.get(url)
    assert response.ok and response.body().startswith(b"%PDF")
    pdf = folder / f"{language}-alice-receipt.pdf"
    pdf.write_bytes(response.body())
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", pdf, pdf.with_suffix("")], check=True
        )


@pytest.fixture
def objects(demo, settings):  # noqa: F811
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    alice, bob = User.objects.get(username="alice"), User.objects.get(username="bob")
    endpoint = register_endpoint(
        account=alice.account, url="http://127.0.0.1:9/hooks", event_types=["topup.credited"], actor=alice
    ).endpoint
    bill = Bill.objects.filter(account_id=bob.account_id).latest("period_start")
    # The notes our code writes for finance: a proposal in the ticket's thread, a statement's explanations.
    finance = User.objects.get(username="finance")
    settings.TICKET_SECOND_APPROVAL_ABOVE = {"USD": Decimal("100")}
    confirm_and_credit(ticket_id=demo["ticket_pk"], actor=finance, received=Money("250.00", "USD"), bank_reference="W")
    rf = payment_reference(alice.account_id)
    lines = [Entry("250.00", "WALK-1", creditor_reference=rf), Entry("-20.00", "WALK-2"), Entry("75.00", "WALK-3")]
    bank = ReceivingAccount.objects.get(currency="USD", retired_at__isnull=True)
    statement = import_statement(receiving_account_id=bank.pk, data=camt053(lines), name="walk.xml", actor=finance)
    line = StatementLine.objects.get(bank_reference="WALK-1")
    return {
        **demo,
        "bill": bill.number,
        "bill_pk": bill.pk,
        "endpoint": endpoint.pk,
        "line_pk": line.pk,
        "statement_pk": statement.statement.pk,
    }


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_page_speaks_one_language(page, live_server, objects, screenshot_dir, language):
    page.set_viewport_size({"width": 1280, "height": 900})
    folder = screenshot_dir / "languages"
    folder.mkdir(exist_ok=True)
    walk = Walk(page, live_server.url, objects, language)
    choose_language(page, live_server.url, language)
    walk.visit("visitor", VISITOR, folder)
    for who, pages in (("alice", ALICE), ("bob", BOB), ("carol", CAROL), ("dave", DAVE)):
        sign_in_as(page, live_server.url, who, language)
        walk.visit(who, pages, folder)
        if who == "alice":
            walk.older_page(who, "/billing/statement/", folder)
            receipt_picture(
                page, live_server.url + f"/billing/topups/{objects['credited']}/receipt.pdf", folder, language
            )
    sign_in_to_admin_as(page, live_server.url, "finance", language)
    walk.visit("finance", FINANCE, folder)

    pages = sum(map(len, (VISITOR, ALICE, BOB, CAROL, DAVE, FINANCE))) + 1
    assert walk.seen == pages
    report = "\n".join(f"  {name}: {' · '.join(words)[:1500]}" for name, words in sorted(walk.pages.items()))
    print(f"\n{walk.seen} pages read in {language}. Words left on {language} pages:\n{report or '  none'}")
    assert not walk.chrome, "the header or footer is not in one language:\n" + "\n".join(walk.chrome)
    expected = set(STILL_ENGLISH) if language == "zh-hans" else set()
    assert set(walk.pages) - expected == set(), f"pages with words of the wrong language:\n{report}"
    assert expected - set(walk.pages) == set(), f"now clean, take them off STILL_ENGLISH: {expected - set(walk.pages)}"
