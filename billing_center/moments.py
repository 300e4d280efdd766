"""A moment as people read it on a page: the day and the hour in the reader's time zone, with the
zone as its offset from UTC: "2026-12-05 03:27 UTC+08:00", or "… UTC" in UTC.

The zone's abbreviation had been shown ("CST"): it names China Standard Time and the US Central
time alike (and "IST" three zones), so a Shanghai reader's times read as Chicago's to anyone else.
"""

from datetime import datetime

from django.utils import timezone


def zone_label(value: datetime | None = None) -> str:
    """The active time zone at `value` (now by default): "UTC", or "UTC+08:00", "UTC-03:00"."""
    offset = timezone.localtime(value or timezone.now()).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if not minutes:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def moment(value: datetime | None, *, time_only: bool = False) -> str:
    """An aware datetime in the active time zone with its zone; "" for none."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    shown = f"{local:%H:%M}" if time_only else f"{local:%Y-%m-%d %H:%M}"
    return f"{shown} {zone_label(value)}"
