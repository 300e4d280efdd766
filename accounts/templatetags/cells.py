"""Filters for the cells of long tables, where each row pays them again.

`{{ entry.created_at|stamp }}` is `|date:"Y-m-d H:i"` in the reader's time zone for a fraction of
its cost (Django's date format is read a character at a time); `{{ topup.created_at|moment }}` adds
the zone as an offset, and `{% zone as zone %}` names it for a column's heading
(billing_center.moments); `{{ entry|label:"kind" }}` is `get_kind_display` from a per-language table
(billing_center.choices); `{{ entry|described }}` is a ledger entry's description in the reader's
language (accounts.descriptions), and `{{ action|change_said }}` what an admin LogEntry says was done
(billing_center.admin_log).
"""

from django import template
from django.utils import timezone

from accounts.descriptions import entry_description
from billing_center import moments
from billing_center.admin_log import said_parts
from billing_center.choices import choice_label

register = template.Library()


@register.filter
def stamp(value) -> str:
    """An aware datetime as "2026-12-03 15:04" in the active time zone; "" for none."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


@register.filter
def moment(value, part: str = "") -> str:
    """ "2026-12-05 03:27 UTC+08:00" ("03:27 UTC+08:00" with "time"); "" for none."""
    return moments.moment(value, time_only=part == "time")


@register.simple_tag
def zone() -> str:
    return moments.zone_label()


@register.filter
def label(instance, field: str) -> str:
    return choice_label(instance, field)


@register.filter
def described(entry) -> str:
    return entry_description(entry.description, entry.description_parts)


@register.filter
def change_said(action) -> str:
    """What a LogEntry says was done, in the reader's language: the sentence of a finance action of ours, else
    Django's own message ("Changed credit limit.")."""
    return entry_description(action.get_change_message(), said_parts(action))
