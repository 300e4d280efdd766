"""Text as people type it, without the characters that make it lie.

Bidi overrides and zero-width characters can make "Alice" and "Mallory" look alike, or a
name read backwards; a CR/LF in a one-line field would let someone write their own
paragraphs into an e-mail we send. Such characters never mean anything in a billing form.
"""

import unicodedata

from django import forms


def clean_text(value: str, *, multiline: bool = False) -> str:
    """Drop control (Cc) and invisible format (Cf) characters; keep newlines only if multiline."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    kept = []
    for char in value:
        if char == "\n" and multiline:
            kept.append(char)
        elif char.isspace():
            kept.append(" ")
        elif unicodedata.category(char) not in ("Cc", "Cf", "Cs"):
            kept.append(char)
    text = "".join(kept)
    if not multiline:
        text = " ".join(text.split())
    return text.strip()


class PlainTextField(forms.CharField):
    """A CharField that cleans its value with clean_text (one line unless multiline=True)."""

    def __init__(self, *args, multiline: bool = False, **kwargs):
        self.multiline = multiline
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return clean_text(value, multiline=self.multiline) if value else value
