"""The navigation's current section: `{% if request.path|within:pay_url %}` is true on the Pay page and every page
below it (its bank transfer page, a top-up's detail under the records). Each link had compared a slice of the
path whose length was counted by hand, one short for five of them, so those never showed as current."""

from django import template

register = template.Library()


@register.filter
def within(path: str, section: str) -> bool:
    """Whether `path` is the section's address or below it."""
    return bool(section) and path.startswith(section)
