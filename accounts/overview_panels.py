"""Panels the Overview shows for an account type whose money path lives in an app above this one.

A postpaid account's bills (the bills app) belong on its Overview, but accounts cannot import
that app. So the app registers a builder in its AppConfig.ready(): given the account, it
returns what its panel shows, or None when the panel is not for this account. The Overview
passes every answer to its template by name, and the template includes the app's own
partial. Like accounts.deposits: imports keep running one way.
"""

from collections.abc import Callable

from .models import Account

PanelBuilder = Callable[[Account], object | None]

_builders: dict[str, PanelBuilder] = {}


def register(name: str, build: PanelBuilder) -> None:
    """Called from an app's ready(); registering a name again replaces its builder."""
    _builders[name] = build


def build_panels(account: Account) -> dict[str, object]:
    """{name: what the panel shows} for the panels that apply to this account."""
    panels = {}
    for name, build in _builders.items():
        panel = build(account)
        if panel is not None:
            panels[name] = panel
    return panels
