"""A receiving account's region as the reader's language names it.

Finance types the region as free text (`ReceivingAccount.region`, "International" by default); it
tells customers which of our accounts suits their transfer ("Mainland China" for a domestic one).
The names finance uses are named here in both languages, found whatever their case or spacing;
any other region is shown as finance typed it.
"""

from django.utils.translation import gettext_lazy as _

NAMES = {
    "international": _("International"),
    "mainland china": _("Mainland China"),
    "hong kong": _("Hong Kong"),
    "sepa": _("SEPA"),
    "united states": _("United States"),
    "united kingdom": _("United Kingdom"),
    "singapore": _("Singapore"),
}


def region_name(region: str) -> str:
    """ "Mainland China" → "中国大陆" on a Chinese page; a region we do not know, as typed (spaces tidied)."""
    typed = " ".join(region.split())
    return str(NAMES.get(typed.casefold(), typed))
