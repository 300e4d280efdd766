"""Decoding and re-encoding the PNG and JPEG certificates customers upload.

tickets.certificates holds the threat model, the limits, the public entry points and the PDF checks; this
module holds the low-level image work those entry points call: decoding with only the Pillow plugin of the
format the signature announced and under a pixel ceiling, turning the picture upright from its EXIF
orientation, and saving it again in a mode the format stores plainly, with no metadata left. It is split out
so that each module stays readable (and under the project's 400-line limit); it takes the pixel ceiling as an
argument, so it never imports tickets.certificates, which imports it.
"""

from __future__ import annotations

import logging
import warnings
from io import BytesIO

from django.utils.translation import gettext as _
from PIL import Image, ImageOps

from tickets.exceptions import CertificateRejected

# The name of the module the checks started in, so their log records are filed as they always were.
logger = logging.getLogger("tickets.certificates")

JPEG_QUALITY = 90


def reencode_image(data: bytes, name: str, expected_format: str, *, max_pixels: int) -> bytes:
    """Decode the image (within the pixel ceiling) and encode it again, upright and without metadata."""
    damaged = CertificateRejected(
        _(
            "“%(name)s” is not a readable %(format)s image (it is damaged, incomplete or not really an image). "
            "Take the photo or scan again, or upload the PDF from your bank."
        )
        % {"name": name, "format": expected_format}
    )
    # Only the plugins of the format the signature announced, so Pillow never hands the bytes to
    # a parser we did not ask for. A JPEG with several pictures (phones' depth maps) is an "MPO".
    formats = ["PNG"] if expected_format == "PNG" else ["JPEG", "MPO"]
    try:
        # Pillow warns (DecompressionBombWarning) above its own ceiling and raises
        # DecompressionBombError above twice that; make the warning an error, then refuse both.
        # (catch_warnings swaps the process-wide filters; the worst a race can do is leave this
        # filter installed, which only makes other Pillow users stricter.)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(data), formats=formats)
            # Image.open reads only the header: check the size before any pixel is decoded.
            width, height = image.size
            if width * height > max_pixels:
                raise _too_many_pixels(name, max_pixels, width, height)
            image.load()  # decodes everything: a truncated or corrupt file fails here
    except CertificateRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_many_pixels(name, max_pixels) from exc
    except Exception as exc:
        # Pillow signals a bad file with OSError, SyntaxError, ValueError, struct.error, zlib
        # errors...: anything it cannot decode is refused the same way.
        raise damaged from exc
    if image.format not in formats:
        raise damaged

    try:
        # In place: a 40 MP picture weighs up to 160 MB decoded, so copies are avoided.
        ImageOps.exif_transpose(image, in_place=True)
    except Exception:
        # An unreadable EXIF block is no reason to refuse the picture; it is dropped anyway.
        logger.info("Ignoring unreadable EXIF orientation in certificate %r", name, exc_info=True)
    clean = _png_ready(image) if expected_format == "PNG" else _jpeg_ready(image)

    output = BytesIO()
    if expected_format == "PNG":
        clean.save(output, format="PNG")
    else:
        clean.save(output, format="JPEG", quality=JPEG_QUALITY)
    return output.getvalue()


def _too_many_pixels(
    name: str, max_pixels: int, width: int | None = None, height: int | None = None
) -> CertificateRejected:
    dimensions = (
        " " + _("(%(width)s × %(height)s pixels)") % {"width": width, "height": height} if width and height else ""
    )
    return CertificateRejected(
        _(
            "“%(name)s” is too large an image%(dimensions)s; at most %(megapixels)s megapixels are "
            "accepted. Upload a smaller photo or scan of the certificate."
        )
        % {"name": name, "dimensions": dimensions, "megapixels": max_pixels // 1_000_000}
    )


# Modes PNG stores as they are.
_PNG_MODES = ("1", "L", "LA", "P", "RGB", "RGBA")
# 16-bit and 32-bit greyscale (PNG's 16-bit grey loads as one of these).
_WIDE_GREY_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def _png_ready(image: Image.Image) -> Image.Image:
    """The image in a mode PNG saves plainly, with no metadata left in `info`."""
    if image.mode in _PNG_MODES:
        clean = image  # ours to change: only its `info` is replaced below
    elif image.mode in _WIDE_GREY_MODES:
        # Scale to 8 bits: a plain convert("L") would clip every value above 255 to white.
        clean = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    elif "A" in image.mode or "a" in image.mode:
        clean = image.convert("RGBA")
    else:
        clean = image.convert("RGB")
    # PNG's encoder writes an ICC profile it finds in `info` by itself; keep only transparency,
    # which is part of the picture (a palette or greyscale image's transparent colour).
    transparency = image.info.get("transparency") if clean.mode == image.mode else None
    clean.info = {} if transparency is None else {"transparency": transparency}
    return clean


def _jpeg_ready(image: Image.Image) -> Image.Image:
    """The image in RGB or L (what JPEG stores), with no metadata left in `info`."""
    if image.mode in ("RGB", "L"):
        clean = image  # ours to change: only its `info` is replaced below
    elif image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        # Transparent areas become white paper, not black.
        rgba = image.convert("RGBA")
        clean = Image.new("RGB", rgba.size, "white")
        clean.paste(rgba, mask=rgba.getchannel("A"))
    else:
        clean = image.convert("RGB")  # CMYK, YCbCr, P, 1...
    clean.info = {}  # JPEG's encoder would copy a comment it finds in `info`
    return clean
