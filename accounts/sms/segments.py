"""How many SMS segments a text costs, and cutting a text to a number of segments knowingly.

A text made only of the GSM 03.38 alphabet travels as GSM-7: 160 characters in one segment,
153 per segment once it is split (the rest of each carries the header that joins them); the
extension characters (€ [ ] { } ~ ^ | \\ and form feed) take two places. Any other character,
and every Chinese one, makes the whole text UCS-2: 70 characters alone, 67 per segment when
split, each counted in UTF-16 code units (an emoji takes two). A Chinese alert of 100
characters is therefore two segments, not one, and a cut must fall on a segment's edge, never
inside a surrogate pair.
"""

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
# Characters per segment: (alone, each of several).
GSM7_LIMITS = (160, 153)
UCS2_LIMITS = (70, 67)
# What one message may cost at most (an alert with a runway and a link fits in three English segments).
MAX_SEGMENTS = 3
ELLIPSIS = "…"


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int  # segments the provider bills


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _units(ch: str, gsm: bool) -> int:
    if gsm:
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def count_segments(text: str) -> Segments:
    """The encoding a phone network uses for `text` and the segments it is billed as."""
    gsm = is_gsm7(text)
    single, part = GSM7_LIMITS if gsm else UCS2_LIMITS
    units = sum(_units(ch, gsm) for ch in text)
    count = 0 if units == 0 else 1 if units <= single else -(-units // part)
    return Segments("GSM-7" if gsm else "UCS-2", units, count)


def fit_segments(text: str, max_segments: int = MAX_SEGMENTS) -> str:
    """`text` if it costs at most `max_segments`, else cut to fill them exactly, ending with "…".

    The cut keeps the encoding the text needs: "…" is not GSM-7, so an English text that is cut
    is ended with "..." instead, and a Chinese one stays UCS-2 with "…".
    """
    if count_segments(text).count <= max_segments:
        return text
    gsm = is_gsm7(text)
    single, part = GSM7_LIMITS if gsm else UCS2_LIMITS
    budget = single if max_segments == 1 else part * max_segments
    ending = "..." if gsm else ELLIPSIS
    budget -= sum(_units(ch, gsm) for ch in ending)
    kept, used = [], 0
    for ch in text:
        cost = _units(ch, gsm)
        if used + cost > budget:
            break
        kept.append(ch)
        used += cost
    return "".join(kept).rstrip() + ending
