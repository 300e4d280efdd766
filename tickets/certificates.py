"""Checking the bank-transfer certificates customers upload with a Transfer Ticket.

A certificate is shown to finance staff and downloaded by them, so an upload is treated as
hostile until proven otherwise:

* its type comes from its content only (never the file name or the browser's content type),
  and only PDF, PNG and JPEG are accepted;
* images are decoded with Pillow under a pixel ceiling (decompression bombs), turned upright
  from their EXIF orientation and re-encoded, so what we store carries no metadata (GPS
  position, camera, comments) and no bytes smuggled after or between the image data;
* PDFs are stored as uploaded, but only after pypdf has read them and no active content
  (JavaScript, launch actions, attachments, rich media, XFA forms, automatic actions) has been
  found, neither in the raw bytes nor in the parsed objects (which also sees compressed object
  streams and names written with #xx escapes).

The image decoding and re-encoding live in tickets.certificate_images; the size limits, the choice of
type and the PDF checks are here.

Every refusal is a `CertificateRejected` whose message names the file and says what to do; any
unexpected error while checking becomes one too, so a bad upload is a form error, never a 500.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject, is_null_or_none

from tickets.certificate_images import reencode_image
from tickets.exceptions import CertificateRejected

logger = logging.getLogger(__name__)

MAX_CERTIFICATE_BYTES = 10 * 1024 * 1024
MAX_CERTIFICATES_PER_TICKET = 5
MAX_IMAGE_PIXELS = 40_000_000  # decompression-bomb ceiling: 40 MP is more than any phone photo

# Bounds on the walk through a PDF's objects, so a hostile file cannot keep us busy for long.
# A bank certificate has a few hundred objects; a long tagged statement a few tens of thousands.
MAX_PDF_OBJECTS = 50_000  # indirect objects resolved
MAX_PDF_NODES = 1_000_000  # dictionaries and arrays examined, direct ones included

MAX_DISPLAY_NAME_CHARS = 100
MAX_EXTENSION_CHARS = 10  # longer "extensions" are just part of the name (e.g. "scan.2024-05-01 bank")
READ_CHUNK_BYTES = 64 * 1024

PDF_MAGIC = b"%PDF-"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

# PDF names that mean active content. /AA is "additional actions" (run on open, close, focus,
# page view...), /OpenAction is handled apart because a plain "open at page 1" is harmless.
ACTIVE_PDF_NAMES = frozenset({"JavaScript", "JS", "Launch", "EmbeddedFile", "EmbeddedFiles", "RichMedia", "XFA", "AA"})

# A PDF name token: "/" then regular characters up to the next delimiter or whitespace (ISO 32000
# 7.2.2). It is compared whole, after #xx escapes are decoded, so /JS matches but /JSON does not
# and /J#61vaScript is read as /JavaScript.
_PDF_DELIMITER = rb"\x00\t\n\x0c\r /<>\[\](){}%"
_PDF_ACTIVE_NAME = re.compile(
    rb"/(" + b"|".join(sorted((n.encode() for n in ACTIVE_PDF_NAMES), key=len, reverse=True)) + rb")"
    rb"(?=[" + _PDF_DELIMITER + rb"]|$)"
)
_PDF_ESCAPED_NAME_TOKEN = re.compile(rb"/([^" + _PDF_DELIMITER + rb"#]*#[0-9A-Fa-f]{2}[^" + _PDF_DELIMITER + rb"]*)")
MAX_ESCAPED_PDF_NAMES = 10_000
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
# The keyword that opens a stream body: right after the stream's dictionary.
_PDF_STREAM_START = re.compile(rb">>\s*stream(?:\r\n|\r|\n)")
_PDF_STREAM_END = b"endstream"

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class CheckedCertificate:
    content: bytes  # what we store: the re-encoded image, or the original PDF bytes
    content_type: str  # "application/pdf" | "image/png" | "image/jpeg"
    extension: str  # ".pdf" | ".png" | ".jpg"
    sha256: str  # hex SHA-256 of the ORIGINAL uploaded bytes (flags the same file on two tickets)
    original_name: str  # display-safe version of the uploaded name
    size: int  # len(content)


def check_certificate(upload: Any) -> CheckedCertificate:
    """Check an uploaded certificate (a Django UploadedFile) and return what to store.

    Raises CertificateRejected, with a message for the customer, on anything wrong.
    """
    name = display_name(getattr(upload, "name", "") or "")
    try:
        return _check(upload, name)
    except CertificateRejected:
        raise
    except Exception as exc:
        # A library bug or a file shaped in a way nobody anticipated: refuse it rather than
        # store something unchecked or answer with a 500. (KeyboardInterrupt, SystemExit...
        # are not Exceptions and go through.)
        logger.warning("Unexpected error while checking certificate %r", name, exc_info=True)
        raise CertificateRejected(
            _("We could not check “%(name)s”. Upload the certificate again, preferably as the PDF your bank gave you.")
            % {"name": name}
        ) from exc


def display_name(name: str) -> str:
    """A safe name to show people and to put in Content-Disposition.

    Basename only, no control or invisible formatting characters (bidi overrides could make
    "invoice\u202efdp.exe" look like "invoiceexe.pdf"), whitespace collapsed, at most 100
    characters with the extension kept; "certificate" if nothing is left.
    """
    # Browsers send a bare name, but some old ones send the whole client path, either kind.
    name = re.split(r"[/\\]", name)[-1]
    name = unicodedata.normalize("NFC", name)
    # Whitespace controls (tab, newline...) separate words: make them spaces before the other
    # control and format characters (Cc, Cf: bidi marks, overrides and isolates, zero-width
    # joiners, soft hyphens...) are dropped. Surrogates (Cs) cannot be encoded, so they go too.
    name = "".join(" " if char.isspace() else char for char in name)
    name = "".join(char for char in name if unicodedata.category(char) not in ("Cc", "Cf", "Cs"))
    name = _WHITESPACE.sub(" ", name).strip()
    if name in ("", ".", ".."):
        return "certificate"
    if len(name) <= MAX_DISPLAY_NAME_CHARS:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > MAX_EXTENSION_CHARS:
        return name[:MAX_DISPLAY_NAME_CHARS].rstrip()
    suffix = "." + extension
    return stem[: MAX_DISPLAY_NAME_CHARS - len(suffix)].rstrip() + suffix


# --- The checks -----------------------------------------------------------------------------


def _max_bytes() -> int:
    # Read at call time so that the setting (and tests overriding it) take effect.
    return getattr(settings, "CERTIFICATE_MAX_BYTES", MAX_CERTIFICATE_BYTES)


def _check(upload: Any, name: str) -> CheckedCertificate:
    limit = _max_bytes()
    too_large = CertificateRejected(
        _(
            "“%(name)s” is larger than %(megabytes)s MB. "
            "Upload a smaller file: the PDF from your bank, or a photo or scan of the certificate."
        )
        % {"name": name, "megabytes": _megabytes(limit)}
    )
    # The declared size lets us refuse without reading anything; it is only a hint, so the
    # read below is bounded too.
    declared_size = getattr(upload, "size", None)
    if declared_size is not None and declared_size > limit:
        raise too_large
    data = _read_at_most(upload, limit + 1)
    if len(data) > limit:
        raise too_large
    if not data:
        raise CertificateRejected(
            _("“%(name)s” is empty (0 bytes). Choose the certificate file again and upload it.") % {"name": name}
        )

    sha256 = hashlib.sha256(data).hexdigest()
    if data.startswith(PDF_MAGIC):
        _check_pdf(data, name)
        return CheckedCertificate(data, "application/pdf", ".pdf", sha256, name, len(data))
    if data.startswith(PNG_MAGIC):
        content = reencode_image(data, name, "PNG", max_pixels=MAX_IMAGE_PIXELS)
        return CheckedCertificate(content, "image/png", ".png", sha256, name, len(content))
    if data.startswith(JPEG_MAGIC):
        content = reencode_image(data, name, "JPEG", max_pixels=MAX_IMAGE_PIXELS)
        return CheckedCertificate(content, "image/jpeg", ".jpg", sha256, name, len(content))
    raise CertificateRejected(
        _(
            "“%(name)s” is not a PDF, PNG or JPEG file. "
            "Upload the certificate your bank gave you as a PDF or a photo/scan."
        )
        % {"name": name}
    )


def _read_at_most(upload: Any, max_bytes: int) -> bytes:
    """Read from the start of the upload, never holding more than `max_bytes` in memory."""
    try:
        upload.seek(0)
    except (AttributeError, OSError, ValueError):
        pass  # not seekable: it has not been read yet, which is all we need
    buffer = bytearray()
    while len(buffer) < max_bytes:
        chunk = upload.read(min(READ_CHUNK_BYTES, max_bytes - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return bytes(buffer)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


# --- PDFs -----------------------------------------------------------------------------------


class _PdfTooComplex(Exception):
    """More objects than we are willing to walk through."""


def _check_pdf(data: bytes, name: str) -> None:
    unreadable = CertificateRejected(
        _(
            "“%(name)s” is not a readable PDF (it is damaged, incomplete or not really a PDF). "
            "Download the certificate from your bank again and upload that file."
        )
        % {"name": name}
    )
    active = CertificateRejected(
        _(
            "“%(name)s” contains scripts, attachments or other active content, which we do not accept. "
            "Upload the plain certificate PDF from your bank, or print it to a new PDF and upload that."
        )
        % {"name": name}
    )
    try:
        if _raw_active_name(data) is not None:
            raise active
        reader = PdfReader(BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise CertificateRejected(
                _(
                    "“%(name)s” is password-protected or encrypted, so we cannot check it. "
                    "Upload a copy without protection, for example by printing it to a new PDF."
                )
                % {"name": name}
            )
        page_count = len(reader.pages)
        found = _parsed_active_name(reader)
    except CertificateRejected:
        raise
    except _PdfTooComplex as exc:
        raise CertificateRejected(
            _(
                "“%(name)s” is too complex for us to check. "
                "Upload the certificate as a simpler PDF (for example print it to a new PDF) or as a photo/scan."
            )
            % {"name": name}
        ) from exc
    except Exception as exc:
        # pypdf raises PdfReadError, PdfStreamError, LimitReachedError, but also KeyError,
        # ValueError, RecursionError... on hostile or broken files: all mean "unreadable".
        raise unreadable from exc
    if page_count < 1:
        raise CertificateRejected(
            _("“%(name)s” has no pages. Upload the certificate PDF from your bank.") % {"name": name}
        )
    if found is not None:
        raise active


def _raw_active_name(data: bytes) -> str | None:
    """An active-content name written in the file's plain syntax, if any.

    This sees objects that a viewer might find by repairing a damaged file even when the
    cross-reference table (and so pypdf) does not list them. Stream bodies are skipped: they
    are mostly compressed binary, where "/JS" or "/AA" followed by a delimiter turns up by
    chance (roughly once per 100 MB of random bytes, so in a few percent of 10 MB scans),
    which would refuse honest files. What a stream can hide that matters (objects in
    compressed object streams) is seen by the parsed walk instead.
    """
    text = _without_stream_bodies(data)
    # Plain names with one regular-expression search (C speed): a file of ten million "/"
    # must not cost a Python loop per name.
    plain = _PDF_ACTIVE_NAME.search(text)
    if plain is not None:
        return plain.group(1).decode("latin-1")
    if b"#" not in text:
        return None
    # Only names with #xx escapes need decoding one by one; honest files have few.
    for count, match in enumerate(_PDF_ESCAPED_NAME_TOKEN.finditer(text)):
        if count >= MAX_ESCAPED_PDF_NAMES:
            raise _PdfTooComplex
        token = _PDF_NAME_ESCAPE.sub(lambda escape: bytes([int(escape.group(1), 16)]), match.group(1))
        if token.decode("latin-1") in ACTIVE_PDF_NAMES:
            return token.decode("latin-1")
    return None


def _without_stream_bodies(data: bytes) -> bytes:
    """The file with every stream body (from ">> stream" to the next "endstream") left out.

    A stream opened but never closed is kept whole, so nothing can be hidden by leaving out its
    "endstream". Written with find() rather than one regular expression, whose backtracking
    over many unclosed streams would be quadratic.
    """
    parts: list[bytes] = []
    position = 0
    while True:
        start = _PDF_STREAM_START.search(data, position)
        if start is None:
            break
        end = data.find(_PDF_STREAM_END, start.end())
        if end == -1:
            break
        parts.append(data[position : start.start()])
        position = end + len(_PDF_STREAM_END)
    parts.append(data[position:])
    return b" ".join(parts)


def _parsed_active_name(reader: PdfReader) -> str | None:
    """An active-content name anywhere in the parsed objects, or an /OpenAction that is not a GoTo.

    Starts from the trailer and from every object the cross-reference lists (reachable or not,
    including those inside compressed object streams). pypdf decodes #xx escapes in names.
    """
    pending: list[Any] = [reader.trailer]
    for generation, numbers in reader.xref.items():
        pending.extend(IndirectObject(number, generation, reader) for number in numbers)
    pending.extend(IndirectObject(number, 0, reader) for number in reader.xref_objStm)

    seen: set[tuple[int, int]] = set()
    nodes = 0
    while pending:  # an explicit stack: deeply nested objects must not exhaust the call stack
        item = pending.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > MAX_PDF_OBJECTS:
                raise _PdfTooComplex
            item = item.get_object()
        if isinstance(item, NameObject):
            if item[1:] in ACTIVE_PDF_NAMES:
                return str(item)
        elif isinstance(item, DictionaryObject):  # stream dictionaries included
            nodes += 1
            if nodes > MAX_PDF_NODES:
                raise _PdfTooComplex
            for key, value in item.items():  # raw values: references are resolved when popped
                if key[1:] in ACTIVE_PDF_NAMES:
                    return str(key)
                if key == "/OpenAction" and not _is_harmless_open_action(value):
                    return str(key)
                pending.append(value)
        elif isinstance(item, ArrayObject):
            nodes += 1
            if nodes > MAX_PDF_NODES:
                raise _PdfTooComplex
            pending.extend(item)
    return None


def _is_harmless_open_action(value: Any) -> bool:
    """True for "open at this page/view": a destination, or a lone GoTo action."""
    target = value.get_object() if isinstance(value, IndirectObject) else value
    if not isinstance(target, DictionaryObject):
        return True  # a destination array or a named destination: where to open, nothing more
    # A GoTo could chain (/Next) to any other action: only a GoTo that ends there is harmless.
    action_type = target.get("/S")
    action_type = action_type.get_object() if isinstance(action_type, IndirectObject) else action_type
    return action_type == "/GoTo" and is_null_or_none(target.get("/Next"))
