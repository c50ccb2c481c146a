import io

import pytest
from PIL import Image, PngImagePlugin

from chalicelib.errors import InvalidField, PayloadTooLarge, UnsupportedMediaType
from chalicelib.images import sanitize_avatar
from tests.fixtures.images import image_bytes, jpeg_with_gps_exif

LIMIT = 25_000_000


@pytest.mark.parametrize("fmt, content_type, extension", [
    ("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"),
    ("GIF", "image/gif", "gif"), ("WEBP", "image/webp", "webp"),
])
def test_supported_formats_are_sniffed_from_bytes(fmt, content_type, extension):
    clean = sanitize_avatar(image_bytes(fmt), LIMIT)
    assert (clean.content_type, clean.extension) == (content_type, extension)
    assert Image.open(io.BytesIO(clean.data)).format == fmt


@pytest.mark.parametrize("data", [
    b"just text", b"%PDF-1.7 not an image", image_bytes("BMP"), image_bytes("TIFF"),
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 10,
])
def test_anything_else_is_unsupported(data):
    with pytest.raises(UnsupportedMediaType):
        sanitize_avatar(data, LIMIT)


def test_empty_file_is_invalid():
    with pytest.raises(InvalidField):
        sanitize_avatar(b"", LIMIT)


def test_truncated_image_is_invalid():
    data = image_bytes("JPEG", size=(200, 200))
    with pytest.raises(InvalidField):
        sanitize_avatar(data[: len(data) // 2], LIMIT)


def test_jpeg_metadata_is_stripped_and_orientation_applied():
    original = jpeg_with_gps_exif(size=(40, 20))
    assert b"secret-location" in original and b"shot at home" in original
    clean = sanitize_avatar(original, LIMIT)
    for secret in (b"Exif", b"CameraMaker", b"secret-location", b"shot at home"):
        assert secret not in clean.data
    image = Image.open(io.BytesIO(clean.data))
    assert not image.getexif()
    assert "comment" not in image.info and "xmp" not in image.info
    # Orientation 6 means "rotate to display": the pixels are rotated before EXIF goes.
    assert image.size == (20, 40)


def test_png_text_and_xmp_chunks_are_stripped():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "png secret")
    info.add_itxt("XML:com.adobe.xmp", "<x>png xmp</x>")
    out = io.BytesIO()
    Image.new("RGB", (5, 5)).save(out, "PNG", pnginfo=info)
    clean = sanitize_avatar(out.getvalue(), LIMIT)
    assert b"png secret" not in clean.data and b"png xmp" not in clean.data


def test_animated_gif_keeps_frames_but_not_comments():
    frames = [Image.new("RGB", (10, 10), color) for color in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], comment=b"gif secret",
                   duration=50, loop=0)
    clean = sanitize_avatar(out.getvalue(), LIMIT)
    assert b"gif secret" not in clean.data
    assert Image.open(io.BytesIO(clean.data)).n_frames == 3


def test_webp_exif_is_stripped():
    exif = Image.Exif()
    exif[0x010F] = "WebpMaker"
    out = io.BytesIO()
    Image.new("RGB", (5, 5)).save(out, "WEBP", exif=exif)
    assert b"WebpMaker" in out.getvalue()
    assert b"WebpMaker" not in sanitize_avatar(out.getvalue(), LIMIT).data


def test_image_over_the_pixel_limit_is_too_large():
    with pytest.raises(PayloadTooLarge):
        sanitize_avatar(image_bytes("PNG", size=(200, 200)), max_pixels=100 * 100)


def test_decompression_bomb_is_refused_before_decoding():
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")  # 400 Mpx in ~50 KB
    assert len(out.getvalue()) < 100_000
    with pytest.raises(PayloadTooLarge):
        sanitize_avatar(out.getvalue(), LIMIT)
