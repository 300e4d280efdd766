"""Finance's side of bank transfers in Django admin; importing the modules registers them."""

from . import banking, holiday_calendar, queue, statements  # noqa: F401
