"""Checking uploaded certificates: real files built in the test (reportlab, pypdf, Pillow, or by hand
where a library will not write the hostile shape), and the message each refusal gives the customer."""

import hashlib
import io
import struct
import warnings
import zipfile
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import ExifTags, Image, PngImagePlugin
from pypdf import PdfReader, PdfWriter
from pypdf.actions import JavaScript, PageTrigger
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NullObject, NumberObject, TextStringObject
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from tickets import certificates
from tickets.certificates import (
    MAX_CERTIFICATE_BYTES,
    CheckedCertificate,
    check_certificate,
    display_name,
)
from tickets.exceptions import CertificateRejected

# --- Building files ---------------------------------------------------------------------------


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def reportlab_pdf(pages: int = 1) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for number in range(pages):
        pdf.drawString(72, 760, f"Bank transfer certificate, page {number + 1}")
        pdf.drawString(72, 740, "Amount: 1,250.00 EUR  Reference: TT-2026-0042")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def rewritten_pdf(change) -> bytes:
    """The reportlab PDF, changed by `change(writer)` and written again by pypdf."""
    writer = PdfWriter(clone_from=io.BytesIO(reportlab_pdf()))
    change(writer)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def hand_made_pdf(objects: list[bytes]) -> bytes:
    """A PDF with a classic cross-reference table; objects are numbered from 1, object 1 is the catalog."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def object_stream_pdf(open_action: bytes) -> bytes:
    """A PDF 1.5 whose catalog, pages and /OpenAction live in a Flate-compressed object stream,
    indexed by a compressed cross-reference stream: nothing of them is readable in the raw bytes.
    (pypdf does not write object streams, so it is built by hand.)"""
    compressed_objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        open_action,
    ]
    header, body = bytearray(), bytearray()
    for number, obj in enumerate(compressed_objects, start=1):
        header += b"%d %d " % (number, len(body))
        body += obj + b"\n"
    stream = zlib.compress(bytes(header + body))

    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    object_stream_at = len(out)
    out += b"5 0 obj\n<< /Type /ObjStm /N 4 /First %d /Filter /FlateDecode /Length %d >>\nstream\n" % (
        len(header),
        len(stream),
    )
    out += stream + b"\nendstream\nendobj\n"
    xref_at = len(out)
    rows = [struct.pack(">BIH", 0, 0, 65535)]
    rows += [struct.pack(">BIH", 2, 5, index) for index in range(4)]  # objects 1-4: in stream 5
    rows += [struct.pack(">BIH", 1, object_stream_at, 0), struct.pack(">BIH", 1, xref_at, 0)]
    xref = zlib.compress(b"".join(rows))
    out += b"6 0 obj\n<< /Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R /Filter /FlateDecode /Length %d >>\nstream\n" % len(
        xref
    )
    out += xref + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def image_bytes(image: Image.Image, image_format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **params)
    return buffer.getvalue()


def gradient(mode: str = "RGB", size: tuple[int, int] = (40, 20)) -> Image.Image:
    """A small picture that is not uniform, so rotations and re-encoding can be told apart."""
    image = Image.linear_gradient("L").resize(size)
    return image.convert(mode)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bilevel_png(width: int, height: int) -> bytes:
    """A black 1-bit PNG written by hand: width × height pixels in a few kilobytes (a decompression bomb)."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return certificates.PNG_MAGIC + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def rejection(file: SimpleUploadedFile) -> str:
    with pytest.raises(CertificateRejected) as caught:
        check_certificate(file)
    message = caught.value.message
    # Every refusal names the file, so a customer uploading several knows which one is wrong.
    assert f"“{display_name(file.name)}”" in message
    assert "Traceback" not in message and "Error" not in message
    return message


# --- Accepted files -----------------------------------------------------------------------------


def test_a_bank_pdf_is_stored_as_uploaded():
    pdf = reportlab_pdf(pages=2)
    checked = check_certificate(upload("Überweisung März.pdf", pdf, "application/pdf"))
    assert checked == CheckedCertificate(
        content=pdf,
        content_type="application/pdf",
        extension=".pdf",
        sha256=hashlib.sha256(pdf).hexdigest(),
        original_name="Überweisung März.pdf",
        size=len(pdf),
    )


@pytest.mark.parametrize(
    "open_action",
    [
        pytest.param(lambda w: ArrayObject([w.pages[0].indirect_reference, NameObject("/Fit")]), id="destination"),
        pytest.param(
            lambda w: DictionaryObject(
                {
                    NameObject("/S"): NameObject("/GoTo"),
                    NameObject("/D"): ArrayObject([w.pages[0].indirect_reference, NameObject("/Fit")]),
                    NameObject("/Next"): NullObject(),
                }
            ),
            id="GoTo action",
        ),
    ],
)
def test_a_pdf_that_opens_at_a_page_is_accepted(open_action):
    def set_open_action(writer):
        writer._root_object[NameObject("/OpenAction")] = open_action(writer)

    checked = check_certificate(upload("statement.pdf", rewritten_pdf(set_open_action)))
    assert checked.content_type == "application/pdf"


def test_a_harmless_pdf_in_object_streams_is_accepted():
    """The control for the hostile object-stream case below: the hand-made file itself is readable."""
    pdf = object_stream_pdf(b"<< /S /GoTo /D [3 0 R /Fit] >>")
    assert check_certificate(upload("compact.pdf", pdf)).content == pdf


def test_a_png_is_re_encoded_without_its_text_chunks_and_exif():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret tracking text")
    info.add_itxt("Author", "Ms Secret", zip=True)
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SecretCam"
    original = image_bytes(gradient("RGB"), "PNG", pnginfo=info, exif=exif)
    assert b"tEXt" in original and b"eXIf" in original

    checked = check_certificate(upload("scan.png", original, "image/png"))

    assert (checked.content_type, checked.extension) == ("image/png", ".png")
    assert checked.sha256 == hashlib.sha256(original).hexdigest()  # of what was uploaded, not stored
    assert checked.size == len(checked.content)
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"secret", b"Secret"):
        assert chunk not in checked.content
    stored = Image.open(io.BytesIO(checked.content))
    assert stored.format == "PNG" and stored.size == (40, 20) and stored.text == {}
    assert stored.convert("RGB").tobytes() == gradient("RGB").tobytes()  # lossless


def test_a_jpeg_is_turned_upright_and_loses_its_exif_and_gps_position():
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # "rotate 90° clockwise to display"
    exif[ExifTags.Base.Make] = "PhoneCo"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    original = image_bytes(gradient("RGB", (40, 20)), "JPEG", exif=exif, comment=b"secret comment")
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test file has GPS

    checked = check_certificate(upload("IMG_0042.JPG", original, "image/jpeg"))

    assert (checked.content_type, checked.extension) == ("image/jpeg", ".jpg")
    assert b"Exif" not in checked.content and b"PhoneCo" not in checked.content
    assert b"secret comment" not in checked.content
    stored = Image.open(io.BytesIO(checked.content))
    assert stored.format == "JPEG"
    assert len(stored.getexif()) == 0
    assert stored.size == (20, 40)  # rotated, so it shows upright without the Orientation tag


@pytest.mark.parametrize(
    "mode, params, stored_mode",
    [
        ("1", {}, "1"),
        ("L", {}, "L"),
        ("LA", {}, "LA"),
        ("RGBA", {}, "RGBA"),
        ("P", {"transparency": 0}, "P"),
        ("I;16", {}, "L"),  # 16-bit grey: scaled down to 8 bits
    ],
)
def test_pngs_of_every_common_mode_are_stored_as_png(mode, params, stored_mode):
    original = image_bytes(gradient(mode) if mode != "I;16" else _grey16(), "PNG", **params)
    stored = Image.open(io.BytesIO(check_certificate(upload("scan.png", original)).content))
    assert (stored.format, stored.mode) == ("PNG", stored_mode)
    if mode == "P":
        assert stored.info.get("transparency") == 0  # transparency is part of the picture, kept
    if mode == "I;16":
        assert stored.getextrema() == (0, 255)  # scaled, not clipped to white


def _grey16() -> Image.Image:
    image = Image.new("I;16", (256, 1))
    image.putdata([value * 257 for value in range(256)])
    return image


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_jpegs_are_stored_as_grey_or_rgb_jpegs(mode):
    original = image_bytes(gradient(mode), "JPEG")
    stored = Image.open(io.BytesIO(check_certificate(upload("photo.jpeg", original)).content))
    assert (stored.format, stored.mode) == ("JPEG", "L" if mode == "L" else "RGB")


def test_a_multi_picture_jpeg_from_a_phone_is_stored_as_a_plain_jpeg():
    original = image_bytes(gradient("RGB"), "MPO", save_all=True, append_images=[gradient("RGB")])
    checked = check_certificate(upload("PXL_2026.jpg", original))
    stored = Image.open(io.BytesIO(checked.content))
    assert (checked.content_type, stored.format, getattr(stored, "n_frames", 1)) == ("image/jpeg", "JPEG", 1)


def test_the_type_comes_from_the_content_not_the_name_or_the_browser():
    png = image_bytes(gradient("RGB"), "PNG")
    checked = check_certificate(upload("certificate.pdf", png, "application/pdf"))
    assert (checked.content_type, checked.extension, checked.original_name) == ("image/png", ".png", "certificate.pdf")
    checked = check_certificate(upload("photo.png", reportlab_pdf(), "image/png"))
    assert (checked.content_type, checked.extension) == ("application/pdf", ".pdf")


# --- Refused files ------------------------------------------------------------------------------

HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>'


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("certificate.pdf", reportlab_pdf())
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, content",
    [
        pytest.param("certificate.pdf", HTML, id="HTML named .pdf"),
        pytest.param(
            "certificate.svg", b'<?xml version="1.0" encoding="UTF-8"?>\n' + SVG, id="SVG with XML declaration"
        ),
        pytest.param("certificate.svg", SVG, id="SVG without XML declaration"),
        pytest.param("certificate.gif", image_bytes(gradient("P"), "GIF"), id="GIF"),
        pytest.param("certificate.webp", image_bytes(gradient("RGB"), "WEBP"), id="WebP"),
        pytest.param("certificate.bmp", image_bytes(gradient("RGB"), "BMP"), id="BMP"),
        pytest.param("certificate.tiff", image_bytes(gradient("RGB"), "TIFF"), id="TIFF"),
        pytest.param("certificate.zip", _zip(), id="ZIP"),
        pytest.param("certificate.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(56) + b"This program", id="Windows EXE"),
        pytest.param("certificate.txt", b"Transfer of 1250 EUR done.", id="text"),
        pytest.param("certificate.pdf", b"\n" + reportlab_pdf(), id="PDF after a leading byte"),
    ],
)
def test_files_that_are_not_pdf_png_or_jpeg_are_refused(name, content):
    message = rejection(upload(name, content, "application/pdf"))
    assert message == (
        f"“{name}” is not a PDF, PNG or JPEG file. Upload the certificate your bank gave you as a PDF or a photo/scan."
    )


def _truncated_jpeg() -> bytes:
    noise = Image.effect_noise((200, 200), 64).convert("RGB")
    jpeg = image_bytes(noise, "JPEG")
    return jpeg[: len(jpeg) // 2]


@pytest.mark.parametrize(
    "name, content, expected",
    [
        pytest.param(
            "scan.png", certificates.PNG_MAGIC + HTML, "is not a readable PNG image", id="PNG signature + HTML"
        ),
        pytest.param("photo.jpg", certificates.JPEG_MAGIC + HTML, "is not a readable JPEG image", id="JPEG sig + HTML"),
        pytest.param("photo.jpg", _truncated_jpeg(), "is not a readable JPEG image", id="truncated JPEG"),
        pytest.param(
            "scan.png",
            image_bytes(Image.effect_noise((200, 200), 64), "PNG")[:-2000],
            "is not a readable PNG image",
            id="truncated PNG",
        ),
        pytest.param("statement.pdf", b"%PDF-1.7\n" + HTML, "is not a readable PDF", id="PDF header + HTML"),
        pytest.param("statement.pdf", reportlab_pdf()[:300], "is not a readable PDF", id="truncated PDF"),
    ],
)
def test_damaged_or_disguised_files_are_refused(name, content, expected):
    message = rejection(upload(name, content))
    assert expected in message
    assert "again" in message  # it says what to do


def _with_root(key: str, value) -> bytes:
    return rewritten_pdf(lambda writer: writer._root_object.__setitem__(NameObject(key), value))


def _action(kind: str, **entries) -> DictionaryObject:
    action = DictionaryObject({NameObject("/S"): NameObject(kind)})
    action.update({NameObject("/" + key): value for key, value in entries.items()})
    return action


def _rich_media_annotation(writer: PdfWriter) -> None:
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/RichMedia"),
            NameObject("/Rect"): ArrayObject([NumberObject(0)] * 4),
        }
    )
    writer.pages[0][NameObject("/Annots")] = ArrayObject([writer._add_object(annotation)])


ALERT = TextStringObject("app.alert('hi')")


@pytest.mark.parametrize(
    "pdf",
    [
        pytest.param(lambda: _with_root("/OpenAction", _action("/JavaScript", JS=ALERT)), id="OpenAction JavaScript"),
        pytest.param(
            lambda: rewritten_pdf(lambda w: w.add_open_action(JavaScript("app.alert('hi')"))),
            id="document JavaScript (Names tree)",
        ),
        pytest.param(
            lambda: rewritten_pdf(lambda w: w.pages[0].add_action(PageTrigger.OPEN, JavaScript("app.alert(1)"))),
            id="page open action (AA)",
        ),
        pytest.param(
            lambda: _with_root("/OpenAction", _action("/Launch", F=TextStringObject("calc.exe"))), id="Launch"
        ),
        pytest.param(
            lambda: _with_root("/OpenAction", _action("/URI", URI=TextStringObject("https://evil.example/"))),
            id="OpenAction URI",
        ),
        pytest.param(
            lambda: _with_root(
                "/OpenAction",
                _action("/GoTo", D=ArrayObject([NumberObject(0), NameObject("/Fit")]), Next=_action("/URI")),
            ),
            id="OpenAction GoTo chained to another action",
        ),
        pytest.param(lambda: rewritten_pdf(lambda w: w.add_attachment("payload.exe", b"MZ")), id="embedded file"),
        pytest.param(lambda: rewritten_pdf(_rich_media_annotation), id="RichMedia"),
        pytest.param(
            lambda: _with_root("/AcroForm", DictionaryObject({NameObject("/XFA"): TextStringObject("<xdp/>")})),
            id="XFA form",
        ),
        pytest.param(
            lambda: hand_made_pdf(
                [
                    b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>",
                    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
                    b"<< /S /J#61vaScript /J#53 (app.alert\\(1\\)) >>",
                ]
            ),
            id="hex-escaped /J#61vaScript",
        ),
        pytest.param(
            lambda: object_stream_pdf(b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>"),
            id="JavaScript inside a compressed object stream",
        ),
    ],
)
def test_pdfs_with_active_content_are_refused(pdf):
    message = rejection(upload("statement.pdf", pdf()))
    assert message == (
        "“statement.pdf” contains scripts, attachments or other active content, which we do not accept. "
        "Upload the plain certificate PDF from your bank, or print it to a new PDF and upload that."
    )


def test_javascript_invisible_in_the_raw_bytes_is_still_found_and_refused():
    """Compressed in an object stream, the script's name is not in the bytes; the parsed objects show it."""
    pdf = object_stream_pdf(b"<< /S /JavaScript /JS (app.alert\\(1\\)) >>")
    assert b"JavaScript" not in pdf
    assert b"/JS" not in pdf
    assert "active content" in rejection(upload("statement.pdf", pdf))


def test_names_that_merely_start_like_active_ones_are_not_refused():
    pdf = hand_made_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /JSON (x) /AAPL 1 /JavaScriptless true >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        ]
    )
    assert check_certificate(upload("names.pdf", pdf)).content == pdf


def test_an_encrypted_pdf_is_refused():
    def encrypt(writer):
        writer.encrypt(user_password="", owner_password="bank-secret")

    message = rejection(upload("protected.pdf", rewritten_pdf(encrypt)))
    assert "password-protected or encrypted" in message and "printing it to a new PDF" in message


def test_a_pdf_without_pages_is_refused():
    buffer = io.BytesIO()
    PdfWriter().write(buffer)
    assert "has no pages" in rejection(upload("empty.pdf", buffer.getvalue()))


@pytest.mark.parametrize(
    "width, height, refused_by",
    [
        pytest.param(20_000, 20_000, "Pillow", id="400 MP in a few KB: Pillow's DecompressionBombError"),
        pytest.param(10_000, 10_000, "Pillow", id="100 MP: Pillow's DecompressionBombWarning, made an error"),
        pytest.param(8_000, 6_000, "us", id="48 MP: under Pillow's limit, over ours"),
    ],
)
def test_decompression_bombs_are_refused_before_decoding(width, height, refused_by):
    bomb = bilevel_png(width, height)
    assert len(bomb) < 100_000
    filters_before = list(warnings.filters)

    message = rejection(upload("scan.png", bomb))

    assert "is too large an image" in message and "at most 40 megapixels" in message
    # Our own check, made on the header before decoding, can name the dimensions.
    assert (f"({width} × {height} pixels)" in message) == (refused_by == "us")
    assert warnings.filters == filters_before  # the warning filter was only borrowed


def test_an_empty_file_is_refused():
    assert rejection(upload("statement.pdf", b"")) == (
        "“statement.pdf” is empty (0 bytes). Choose the certificate file again and upload it."
    )


class CountingBytesIO(io.BytesIO):
    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_a_file_over_the_limit_is_refused_without_reading_it():
    big = upload("statement.pdf", b"%PDF-1.7\n" + bytes(11 * 1024 * 1024))
    big.file = CountingBytesIO(big.file.getvalue())
    assert rejection(big) == (
        "“statement.pdf” is larger than 10 MB. "
        "Upload a smaller file: the PDF from your bank, or a photo or scan of the certificate."
    )
    assert big.file.bytes_read == 0  # the declared size was enough


def test_a_file_that_lies_about_its_size_is_read_only_up_to_the_limit():
    big = upload("statement.pdf", b"%PDF-1.7\n" + bytes(11 * 1024 * 1024))
    big.file = CountingBytesIO(big.file.getvalue())
    big.size = 1000
    assert "is larger than 10 MB" in rejection(big)
    assert big.file.bytes_read == MAX_CERTIFICATE_BYTES + 1


def test_the_limit_comes_from_the_settings(settings):
    settings.CERTIFICATE_MAX_BYTES = 1024 * 1024
    assert "is larger than 1 MB" in rejection(upload("statement.pdf", reportlab_pdf() + bytes(1024 * 1024)))
    settings.CERTIFICATE_MAX_BYTES = 512 * 1024
    assert "is larger than 0.5 MB" in rejection(upload("statement.pdf", reportlab_pdf() + bytes(1024 * 1024)))


def palette_png_without_its_palette() -> bytes:
    """A 4 × 4 palette PNG (colour type 3) without the PLTE chunk the format requires, written by hand."""
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 3, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\0" + bytes(4) for _ in range(4)))  # per row: filter byte, 4 palette indices
    return certificates.PNG_MAGIC + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


COULD_NOT_CHECK = "We could not check “{}”. Upload the certificate again, preferably as the PDF your bank gave you."


def test_an_unexpected_error_while_checking_becomes_a_refusal():
    png = palette_png_without_its_palette()
    # The premise: Pillow decodes this file, then fails to encode it again with an error no
    # decoder lists (Pillow 13: UnboundLocalError, a bug in its PNG writer). If an upgrade
    # fixes that, this test needs another file that breaks a library in an unexpected way.
    image = Image.open(io.BytesIO(png))
    image.load()
    with pytest.raises(Exception) as pillow_error:
        image.save(io.BytesIO(), format="PNG")
    assert not isinstance(pillow_error.value, OSError | ValueError | SyntaxError)  # not a "damaged file" error

    with pytest.raises(CertificateRejected) as caught:
        check_certificate(upload("scan.png", png))

    assert caught.value.message == COULD_NOT_CHECK.format("scan.png")
    assert type(caught.value.__cause__) is type(pillow_error.value)  # the library's own error, refused


def test_an_upload_that_cannot_be_read_becomes_a_refusal():
    closed = upload("statement.pdf", reportlab_pdf())
    closed.close()  # reading it raises ValueError: I/O operation on closed file
    assert rejection(closed) == COULD_NOT_CHECK.format("statement.pdf")


class InterruptedUpload(SimpleUploadedFile):
    """An upload whose reading is interrupted, as Ctrl-C interrupts `runserver` or a shell."""

    def read(self, size=-1):
        raise KeyboardInterrupt


def test_keyboard_interrupt_while_the_upload_is_read_is_not_swallowed():
    with pytest.raises(KeyboardInterrupt):
        check_certificate(InterruptedUpload("statement.pdf", reportlab_pdf()))


def test_keyboard_interrupt_while_pypdf_reads_the_file_is_not_swallowed(monkeypatch):
    # No file makes pypdf raise KeyboardInterrupt, so this patches a third-party name, never
    # one of ours: pypdf's PdfReader.read, which PdfReader(stream) calls to parse the file.
    def interrupted(self, stream):
        raise KeyboardInterrupt

    monkeypatch.setattr(PdfReader, "read", interrupted)
    with pytest.raises(KeyboardInterrupt):
        check_certificate(upload("statement.pdf", reportlab_pdf()))


# --- Display names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, shown",
    [
        ("../../x.pdf", "x.pdf"),
        ("..\\..\\x.pdf", "x.pdf"),
        ("C:\\Users\\ana\\Desktop\\bank.pdf", "bank.pdf"),
        ("/etc/passwd", "passwd"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override: would show "invoiceexe.pdf"
        ("\u2066x\u2069 \u200ey\u200f.pdf", "x y.pdf"),  # isolates and marks
        ("a\nb.pdf", "a b.pdf"),
        ("a\r\n\tb\x00c\x1b.pdf", "a bc.pdf"),
        ("  Überweisung   März  2026.pdf  ", "Überweisung März 2026.pdf"),
        ("Mu\u0308ller.pdf", "Müller.pdf"),  # decomposed (macOS) becomes composed
        ("", "certificate"),
        ("   ", "certificate"),
        ("\u202e", "certificate"),
        ("..", "certificate"),
        ("dir/", "certificate"),
    ],
)
def test_display_name(name, shown):
    assert display_name(name) == shown


def test_a_long_display_name_is_cut_to_100_characters_keeping_the_extension():
    shown = display_name("a" * 296 + ".pdf")
    assert shown == "a" * 96 + ".pdf"
    assert display_name("b" * 300) == "b" * 100
    # A "dot" far from the end is not an extension.
    assert display_name("scan." + "c" * 295) == ("scan." + "c" * 295)[:100]
