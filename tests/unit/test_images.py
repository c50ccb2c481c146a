import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageCms, PngImagePlugin

from chalicelib import images
from chalicelib.errors import InvalidField, PayloadTooLarge, UnsupportedMediaType
from chalicelib.images import MAX_ANIMATION_MS, MAX_LOOPS, sanitize_avatar
from tests.fixtures.images import (
    apng_many_frames,
    gif_canvas_bomb,
    gif_delay_overflow,
    gif_file,
    gif_many_frames,
    image_bytes,
    jpeg_with_gps_exif,
    webp_many_frames,
)

LIMIT = 25_000_000
# images.py ignores Pillow's soft warning process-wide (its own budget decides); pytest
# resets warning filters per test, so say it again here.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


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


# -- the budget covers what is decoded --------------------------------------------------

def test_a_frame_that_would_grow_the_canvas_is_refused_before_it_is_decoded():
    bomb = gif_canvas_bomb(3000)               # 1x1 screen, then a 3000x3000 frame
    assert len(bomb) < 10_000
    with pytest.raises(InvalidField, match="frame 2 does not fit the 1x1 canvas"):
        sanitize_avatar(bomb, LIMIT)


def test_a_frame_far_outside_the_canvas_is_refused_while_seeking():
    # Pillow would allocate this frame's disposal area during the seek: its own limit, set
    # from the budget, refuses it first.
    huge = gif_file((1, 1), [{"size": (1, 1)}, {"size": (6000, 6000), "disposal": 2}])
    with pytest.raises((InvalidField, PayloadTooLarge)):
        sanitize_avatar(huge, LIMIT)
    offset = gif_file((8, 8), [{"size": (8, 8)}, {"size": (8, 8), "offset": (65_000, 0)}])
    with pytest.raises((InvalidField, PayloadTooLarge)):
        sanitize_avatar(offset, LIMIT)


@pytest.mark.parametrize("durations, expected", [
    ([100, 200.4], [100, 200]),
    ([float("nan"), -5, 10], [0, 0, 10]),
    ([float("inf"), 10], [MAX_ANIMATION_MS // 2, 10]),
    ([MAX_ANIMATION_MS] * 3, [MAX_ANIMATION_MS // 3] * 3),
])
def test_delays_become_whole_milliseconds_within_the_animation_limit(durations, expected):
    assert images._bounded_durations(durations) == expected


@pytest.mark.parametrize("budget", [99 * 101, 99 * 101 + 1])
def test_an_image_of_exactly_the_budget_is_accepted_whatever_its_parity(budget):
    assert sanitize_avatar(image_bytes("PNG", (99, 101)), max_pixels=budget).width == 99


def test_a_first_frame_wider_than_the_screen_widens_the_canvas_and_is_budgeted():
    # Browsers and Pillow both widen the logical screen to the first frame.
    wide = gif_file((1, 1), [{"size": (300, 200)}])
    assert sanitize_avatar(wide, LIMIT).width == 300
    with pytest.raises(PayloadTooLarge):
        sanitize_avatar(wide, max_pixels=300 * 200 - 1)


@pytest.mark.parametrize("make", [
    lambda: gif_file((100, 100), [{"size": (100, 100), "delay": 1}] * 3),
    lambda: apng_many_frames(3, (100, 100)),
    lambda: webp_many_frames(3, (100, 100)),
], ids=["gif", "apng", "webp"])
def test_every_decoded_frame_counts_against_the_pixel_budget(make):
    data = make()
    assert sanitize_avatar(data, max_pixels=3 * 100 * 100).width == 100
    with pytest.raises(PayloadTooLarge, match="3 frames exceeds 29999 decoded pixels"):
        sanitize_avatar(data, max_pixels=3 * 100 * 100 - 1)


@pytest.mark.parametrize("make", [gif_many_frames, apng_many_frames, webp_many_frames],
                         ids=["gif", "apng", "webp"])
def test_frames_are_capped(make):
    data = make(11)
    assert sanitize_avatar(data, LIMIT, max_frames=11).width == 1
    with pytest.raises(PayloadTooLarge, match="more than 10 frames"):
        sanitize_avatar(data, LIMIT, max_frames=10)


def test_two_hundred_thousand_tiny_frames_stop_at_the_cap():
    data = gif_many_frames(200_000)
    with pytest.raises(PayloadTooLarge, match="more than 200 frames"):
        sanitize_avatar(data, LIMIT)


# -- every input gives 201 or a documented 4xx ------------------------------------------

def test_summed_maximal_delays_of_merged_frames_are_cut_not_overflowed():
    clean = Image.open(io.BytesIO(sanitize_avatar(gif_delay_overflow(), LIMIT).data))
    total = 0
    for index in range(getattr(clean, "n_frames", 1)):
        clean.seek(index)
        total += clean.info.get("duration", 0)
    assert 0 < total <= MAX_ANIMATION_MS


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_absurd_delays_and_loop_counts_are_bounded_in_every_format(fmt):
    frames = [Image.new("RGB", (8, 8), color) for color in ("red", "green", "red")]
    out = io.BytesIO()
    delays = {"GIF": 655_350, "PNG": 65_535_000, "WEBP": 16_777_215}[fmt]
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=delays,
                   loop={"GIF": 0xFFFF, "PNG": 2**32 - 1, "WEBP": 0xFFFF}[fmt])
    clean = Image.open(io.BytesIO(sanitize_avatar(out.getvalue(), LIMIT).data))
    assert clean.n_frames == 3
    assert 0 <= clean.info["loop"] <= MAX_LOOPS
    total = 0
    for index in range(3):
        clean.seek(index)
        clean.load()
        total += clean.info["duration"]
    assert total <= MAX_ANIMATION_MS


def test_every_disposal_mode_including_reserved_ones_is_decoded():
    frames = [{"size": (4, 4), "offset": (d % 2, 0) if d else (0, 0), "disposal": d, "delay": 5}
              for d in range(8)]
    frames = [{**f, "size": (3, 4)} if f["offset"] != (0, 0) else f for f in frames]
    clean = sanitize_avatar(gif_file((4, 4), frames, loop=0), LIMIT)
    assert Image.open(io.BytesIO(clean.data)).n_frames >= 1


@pytest.mark.parametrize("data", [
    gif_file((4, 4), [{"size": (4, 4)}])[:-6],             # LZW data cut short
    gif_file((0, 0), []),                                  # no frame at all
    apng_many_frames(3, (8, 8))[:-40],                     # animation cut short
    webp_many_frames(3, (8, 8))[:-20],
])
def test_broken_animations_are_4xx(data):
    with pytest.raises((InvalidField, UnsupportedMediaType)):
        sanitize_avatar(data, LIMIT)


def test_a_multi_picture_jpeg_is_stored_as_its_first_picture():
    out = io.BytesIO()
    Image.new("RGB", (16, 8), "red").save(out, "MPO", save_all=True,
                                          append_images=[Image.new("RGB", (16, 8), "blue")])
    clean = sanitize_avatar(out.getvalue(), LIMIT)
    assert (clean.content_type, Image.open(io.BytesIO(clean.data)).format) == ("image/jpeg", "JPEG")


# -- nothing but pixels survives --------------------------------------------------------

SECRET = b"SECRET-PAYLOAD-1234"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("profile", [
    ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes() + SECRET,
    SECRET * 8,                                            # not a profile at all
], ids=["srgb-with-trailing-bytes", "garbage"])
def test_icc_profiles_never_survive(fmt, profile):
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 60)).save(out, fmt, icc_profile=profile)
    assert Image.open(io.BytesIO(out.getvalue())).info["icc_profile"] == profile
    clean = sanitize_avatar(out.getvalue(), LIMIT)
    assert SECRET not in clean.data
    image = Image.open(io.BytesIO(clean.data))
    assert "icc_profile" not in image.info
    red, green, blue = image.convert("RGB").getpixel((8, 8))[:3]
    assert abs(red - 200) < 12 and abs(green - 30) < 12 and abs(blue - 60) < 12


def test_gif_application_extensions_never_survive():
    # GIF carries ICC profiles (and anything else) in application extensions.
    data = gif_file((4, 4), [{"size": (4, 4)}], application=(b"ICCRGBG1012", SECRET * 20))
    assert SECRET in data
    assert SECRET not in sanitize_avatar(data, LIMIT).data


def test_an_animation_with_an_icc_profile_is_converted_frame_by_frame():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes() + SECRET
    frames = [Image.new("RGB", (8, 8), color) for color in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], icc_profile=profile)
    clean = sanitize_avatar(out.getvalue(), LIMIT)
    assert SECRET not in clean.data
    assert Image.open(io.BytesIO(clean.data)).n_frames == 2


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "WEBP", "JPEG"])
def test_only_rendering_information_is_left(fmt):
    clean = Image.open(io.BytesIO(sanitize_avatar(image_bytes(fmt, (8, 8)), LIMIT).data))
    assert set(clean.info) <= {"transparency", "duration", "loop", "background", "version",
                               "jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi",
                               "progressive", "progression", "optimize"}


def test_palette_transparency_survives():
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 255, 0, 0])
    out = io.BytesIO()
    image.save(out, "PNG", transparency=1)
    clean = Image.open(io.BytesIO(sanitize_avatar(out.getvalue(), LIMIT).data))
    assert clean.convert("RGBA").getpixel((0, 0))[3] == 0


# -- a process decodes at most N uploads at once ----------------------------------------

def test_concurrent_decodes_are_capped_per_process(monkeypatch):
    active, highest, lock = 0, 0, threading.Lock()
    real_decode = images._decode

    def counting_decode(*args):
        nonlocal active, highest
        with lock:
            active += 1
            highest = max(highest, active)
        try:
            return real_decode(*args)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(images, "_decode", counting_decode)
    data = image_bytes("PNG", (400, 400))
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: sanitize_avatar(data, LIMIT, concurrent_decodes=2), range(12)))
    assert highest <= 2
