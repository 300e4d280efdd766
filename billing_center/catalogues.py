"""The translation catalogues: where each message lives, extracting it, compiling it.

The product ships in English (the source strings) and Simplified Chinese (`zh_Hans`). The
catalogues are split by area so that people working on different parts never edit the same
file: `locale/<area>/zh_Hans/LC_MESSAGES/django.po` (and `djangojs.po` for static/js). Every
area's folder is in LOCALE_PATHS; a message used in two areas is in both catalogues.

Nothing here needs GNU gettext: messages are extracted with Django's own template-to-Python
step and Babel's extractors, and the `.po` files are compiled to `.mo` with Babel, so a fresh
machine with only Python builds the catalogues (`manage.py compile_catalogues`, run by
`make run`, `make test` and the test session itself). `manage.py update_catalogues` adds the
messages the code has gained (empty, to be translated) and drops those it no longer has.
"""

import io
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_javascript, extract_python
from babel.messages.extract import extract as extract_messages
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from django.conf import settings
from django.utils.translation.template import templatize

LANGUAGE = "zh_Hans"
# Which area's catalogue a source file's messages go to: first match wins.
AREAS = (
    ("developers", ("accounts/outbound_webhooks/*", "templates/webhooks/*", "accounts/usage_api/*", "templates/api/*")),
    (
        "finance",
        (
            "tickets/*",
            "templates/tickets/*",
            "templates/admin/*",
            "*/admin.py",
            "*/admin/*",
            "*/admin_*.py",
            "*/*_admin.py",
        ),
    ),
    (
        "core",
        (
            "accounts/models.py",
            "accounts/outbox_models.py",
            "accounts/notifications.py",
            "accounts/alerts.py",
            "accounts/language.py",
            "accounts/sms/*",
        ),
    ),
    (
        "customer",
        (
            "accounts/*",
            "bills/*",
            "topups/*",
            "templates/accounts/*",
            "templates/bills/*",
            "templates/topups/*",
            "templates/_cancel_payment.html",
            "templates/_pay_methods.html",
        ),
    ),
    ("core", ("*",)),
)
SOURCES = ("money", "billing_center", "accounts", "bills", "topups", "tickets", "templates", "static/js")
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "gettext_lazy": None,
    "ngettext_lazy": (1, 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext_lazy": ((1, "c"), 2, 3),
    "gettext_noop": None,
}


@dataclass(frozen=True)
class Message:
    domain: str  # "django" or "djangojs"
    msgid: str | tuple[str, str]  # a plural is (singular, plural)
    context: str | None
    path: str
    line: int


def base_dir() -> Path:
    return Path(settings.BASE_DIR)


def area_of(path: str) -> str:
    return next(area for area, patterns in AREAS if any(fnmatch(path, pattern) for pattern in patterns))


def catalogue_path(area: str, domain: str = "django") -> Path:
    return base_dir() / "locale" / area / LANGUAGE / "LC_MESSAGES" / f"{domain}.po"


def extract() -> list[Message]:
    """Every message the code marks for translation, where it is marked."""
    root, found = base_dir(), []
    for top in SOURCES:
        for path in sorted((root / top).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if "migrations" in path.parts or not path.is_file():
                continue
            if path.suffix == ".py":
                domain, source, extractor = "django", path.read_bytes(), extract_python
            elif path.suffix in (".html", ".txt") and top == "templates":
                text = templatize(path.read_text(encoding="utf-8"), origin=relative)
                text = "\n".join(line.lstrip() for line in text.splitlines())  # Python's tokenizer minds indents
                domain, source, extractor = "django", text.encode(), extract_python
            elif path.suffix == ".js" and not path.name.endswith(".min.js"):
                domain, source, extractor = "djangojs", path.read_bytes(), extract_javascript
            else:
                continue
            for line, msgid, _comments, context in extract_messages(extractor, io.BytesIO(source), KEYWORDS):
                found.append(Message(domain, msgid, context, relative, line))
    return found


def new_catalogue() -> Catalog:
    """An empty catalogue whose header is final (a fuzzy header would be left out of the .mo,
    and with it Chinese's one plural form)."""
    return Catalog(
        locale=LANGUAGE,
        project="Billing Center",
        version="1",
        copyright_holder="Billing Center",
        last_translator="Billing Center team",
        language_team="Billing Center zh_Hans",
        fuzzy=False,
    )


def read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=LANGUAGE)


def wanted() -> dict[Path, dict[tuple, list[tuple[str, int]]]]:
    """Per catalogue file: each message the code marks for it, (msgid, context) → where."""
    found: dict[Path, dict] = {}
    for message in extract():
        path = catalogue_path(area_of(message.path), message.domain)
        found.setdefault(path, {}).setdefault((message.msgid, message.context), []).append((message.path, message.line))
    return found


def untranslated() -> list[str]:
    """Messages the code marks that their area's catalogue does not translate, as 'file:line msgid'."""
    problems = []
    for path, keys in wanted().items():
        catalog = read(path) if path.exists() else Catalog(locale=LANGUAGE)
        for (msgid, context), locations in keys.items():
            message = catalog.get(msgid, context=context)
            strings = message.string if message and isinstance(message.string, tuple) else (message and message.string,)
            if message is None or message.fuzzy or not all(strings):
                problems.append(f"{locations[0][0]}:{locations[0][1]} {msgid!r}")
    return problems


def update() -> dict[str, tuple[int, int]]:
    """Bring every area's catalogues in line with the code: new messages added (untranslated,
    or with the translation another area's catalogue has for them), messages no longer used
    dropped. Returns (added, dropped) per catalogue file."""
    report, found = {}, wanted()
    existing_paths = list(base_dir().glob(f"locale/*/{LANGUAGE}/LC_MESSAGES/*.po"))
    known = {  # a message another area already translates starts with that translation
        (m.id, m.context): m.string for path in existing_paths for m in read(path) if m.id and m.string and not m.fuzzy
    }
    for path in {*found, *existing_paths}:
        keys = found.get(path, {})
        catalog = read(path) if path.exists() else new_catalogue()
        existing = {(m.id, m.context) for m in catalog if m.id}
        for (msgid, context), locations in keys.items():
            if (msgid, context) in existing:
                catalog.get(msgid, context=context).locations = locations
            else:
                empty = ("", "") if isinstance(msgid, tuple) else ""
                catalog.add(msgid, string=known.get((msgid, context), empty), locations=locations, context=context)
        dropped = [(m.id, m.context) for m in catalog if m.id and (m.id, m.context) not in keys]
        for msgid, context in dropped:
            catalog.delete(msgid, context=context)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, catalog, width=0, sort_output=True, include_previous=False)
        report[str(path.relative_to(base_dir()))] = (len(set(keys) - existing), len(dropped))
    return report


def compile_all() -> list[Path]:
    """Compile every catalogue to its .mo beside it (only where the .po is newer)."""
    written = []
    for po in sorted(base_dir().glob("locale/*/*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        catalog = read(po)
        with mo.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        written.append(mo)
    return written
