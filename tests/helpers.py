import html
import re

HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[^"]+)" value="(?P<value>[^"]*)"')


def hidden_fields(response) -> dict[str, str]:
    """The hidden inputs a page renders: what a browser would submit back."""
    return {m["name"]: html.unescape(m["value"]) for m in HIDDEN.finditer(response.content.decode())}
