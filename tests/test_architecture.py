"""Architecture rules for the production packages: import layers and module size.

Plain `ast` over the source files: nothing is imported, no Django and no database are needed. The rules are
data (the tables below), so the check keeps working while the tree is being restructured.
"""

import ast
import textwrap
from pathlib import Path
from typing import NamedTuple

REPO_ROOT = Path(__file__).resolve().parent.parent

# Layers, lowest first: top-level package -> rank. A module may import its own layer and any LOWER rank.
# Two layers with the same rank are siblings and must never import each other (topups <-> tickets).
LAYERS = {
    "money": 1,  # shared kernel: imports nothing of ours
    "billing_center": 2,  # infrastructure (everything except the composition roots below)
    "accounts": 3,
    "bills": 4,  # postpaid bills: above accounts, below the money-in paths that repay them
    "topups": 5,
    "tickets": 5,
}
# Composition roots wire everything together, so they sit above every layer and may import anything.
# A name covers the module and everything under it (billing_center.settings.base, ...management.commands.x).
COMPOSITION_ROOTS = (
    "billing_center.urls",
    "billing_center.admin_home",
    "billing_center.settings",
    "billing_center.wsgi",
    "billing_center.asgi",
    "billing_center.management",
)
ROOT_LAYER = ("composition root", 99)
MAX_LINES = 400
# Calls whose literal string argument is an import in disguise: import_string("a.b.C"), importlib.import_module("a.b").
STRING_IMPORTERS = {"import_string", "import_module"}


class Violation(NamedTuple):
    file: str
    line: int
    importer: str
    imported: str
    importer_layer: str
    imported_layer: str
    sibling: bool  # same rank, different layer: topups <-> tickets

    def __str__(self) -> str:
        where = f"{self.file}:{self.line} {self.importer} -> {self.imported}"
        if self.sibling:
            return f"{where} ({self.importer_layer} and {self.imported_layer} are siblings: neither imports the other)"
        return f"{where} (layer {self.importer_layer} may not import layer {self.imported_layer})"


def layer_of(module: str) -> tuple[str, int] | None:
    """(layer name, rank) of a dotted name, or None when it is not ours (django, stdlib, tests, ...)."""
    # Match on whole dotted components, so billing_center.celery_app is not billing_center.celery.
    if any(module == root or module.startswith(root + ".") for root in COMPOSITION_ROOTS):
        return ROOT_LAYER
    top = module.split(".")[0]
    return (top, LAYERS[top]) if top in LAYERS else None


def production_files(root: Path) -> list[Path]:
    """Every .py file of the layered packages that exist under root, migrations excluded (generated code)."""
    files = []
    for package in LAYERS:
        files += [p for p in (root / package).rglob("*.py") if "migrations" not in p.relative_to(root).parts]
    return sorted(files)


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import anywhere in the file: top level, functions, TYPE_CHECKING blocks."""
    module = module_name(root, path)
    # The package relative imports start from: the module itself for __init__.py, else its parent.
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: dict[tuple[int, str], None] = {}  # ordered set: `from x import a, b` reports x once
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found[node.lineno, alias.name] = None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from ..x import y`: each dot past the first climbs one package
                parts = package[: max(0, len(package) - (node.level - 1))] + ([node.module] if node.module else [])
                base = ".".join(parts)
            for alias in node.names:
                # `from billing_center import urls` imports the module billing_center.urls, not just the package.
                sub = f"{base}.{alias.name}"
                found[node.lineno, sub if is_module(root, sub) else base] = None
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            arg = node.args[0]
            if name in STRING_IMPORTERS and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found[node.lineno, arg.value] = None
    return list(found)


def check_imports(root: Path) -> list[Violation]:
    """Every import of the production packages under root that breaks the layer rules."""
    violations = []
    for path in production_files(root):
        importer = module_name(root, path)
        own = layer_of(importer)
        for line, imported in imports_of(root, path):
            other = layer_of(imported)
            if other is None or other[0] == own[0] or other[1] < own[1]:
                continue  # not ours, same layer, or a lower layer: allowed
            rel = path.relative_to(root).as_posix()
            violations.append(Violation(rel, line, importer, imported, own[0], other[0], other[1] == own[1]))
    return violations


def long_modules(root: Path) -> list[tuple[str, int]]:
    """(file, line count) of every production module longer than MAX_LINES."""
    lines = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in production_files(root)}
    return [(p.relative_to(root).as_posix(), n) for p, n in lines.items() if n > MAX_LINES]


def test_no_import_runs_the_wrong_way():
    """No module imports a layer above its own (money < billing_center < accounts < topups, tickets < roots)."""
    assert production_files(REPO_ROOT), "found no production modules: is REPO_ROOT right?"
    wrong = [str(v) for v in check_imports(REPO_ROOT) if not v.sibling]
    assert not wrong, f"{len(wrong)} import(s) run against the layers:\n" + "\n".join(wrong)


def test_topups_and_tickets_never_import_each_other():
    """topups never imports tickets and tickets never imports topups (siblings on the same layer)."""
    crossed = [str(v) for v in check_imports(REPO_ROOT) if v.sibling]
    assert not crossed, f"{len(crossed)} import(s) between sibling layers:\n" + "\n".join(crossed)


def test_no_production_module_is_too_long():
    """No production module (migrations excepted) is longer than MAX_LINES lines."""
    offenders = [f"{name}: {n} lines" for name, n in long_modules(REPO_ROOT)]
    assert not offenders, f"{len(offenders)} module(s) over {MAX_LINES} lines:\n" + "\n".join(offenders)


def test_checker_reports_exactly_the_planted_violations(tmp_path):
    """The checker finds every planted violation (function-level, TYPE_CHECKING, relative, string) and nothing else."""

    def write(rel: str, source: str) -> None:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")

    write("money/errors.py", "import decimal\n")
    write("money/x.py", "from . import errors\nimport accounts.models\n")  # line 2: kernel imports a layer above
    write("billing_center/__init__.py", "from .urls import urlpatterns\n")  # infra importing a composition root
    write("billing_center/urls.py", "import topups.views\n")  # roots may import anything
    write("billing_center/management/commands/seed.py", "from tickets.models import Ticket\n")
    write("accounts/models.py", "from billing_center.db import atomic\nfrom money import errors\n")
    write("accounts/b.py", "from .models import M\nfrom ..tickets import z\n")  # line 2 resolves to tickets
    write("accounts/migrations/0001_initial.py", "import tickets.models\n")  # migrations are skipped
    write("tests/test_x.py", "import topups, tickets\n")  # tests are not production code
    write("tickets/a.py", "from accounts.models import Account\n\ndef refund():\n    from topups.models import T\n")
    write(
        "topups/c.py",
        """
        from typing import TYPE_CHECKING
        from importlib import import_module
        from django.utils.module_loading import import_string

        if TYPE_CHECKING:
            from billing_center.urls import urlpatterns
        backend = import_string("money.rates.Backend")
        views = import_module("tickets.views")
        """,
    )
    write("tickets/ok.py", "x = 1\n" * MAX_LINES)
    write("tickets/big.py", "x = 1\n" * (MAX_LINES + 1))

    assert sorted(map(str, check_imports(tmp_path))) == [
        "accounts/b.py:2 accounts.b -> tickets (layer accounts may not import layer tickets)",
        "billing_center/__init__.py:1 billing_center -> billing_center.urls"
        " (layer billing_center may not import layer composition root)",
        "money/x.py:2 money.x -> accounts.models (layer money may not import layer accounts)",
        "tickets/a.py:4 tickets.a -> topups.models (tickets and topups are siblings: neither imports the other)",
        "topups/c.py:6 topups.c -> billing_center.urls (layer topups may not import layer composition root)",
        "topups/c.py:8 topups.c -> tickets.views (topups and tickets are siblings: neither imports the other)",
    ]
    assert long_modules(tmp_path) == [("tickets/big.py", MAX_LINES + 1)]


def test_every_beat_entry_names_a_registered_task_under_its_stable_name():
    """Beat entries and queued messages carry task names: each must still resolve after a move."""
    import django
    from django.conf import settings

    django.setup()
    from billing_center.celery import app

    app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert names, "the beat schedule is empty"
    assert names <= set(app.tasks), sorted(names - set(app.tasks))
    stable = {
        "accounts.tasks.send_email",
        "accounts.tasks.send_sms",
        "accounts.tasks.check_balance_alert",
        "tickets.tasks.flag_ticket_deadlines",
        "topups.tasks.reconcile_pending_topups",
    }
    assert stable <= set(app.tasks), sorted(stable - set(app.tasks))
