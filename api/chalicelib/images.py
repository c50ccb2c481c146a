"""Avatar checks: the bytes decide the type, the decoded work is budgeted, and nothing but
pixels is stored.

The budget counts what Pillow really decodes, not what a header claims. Every frame of an
animation (GIF, animated PNG, animated WebP) is decoded onto a full canvas, so an upload
costs canvas width x height x frames decoded pixels. That product may not exceed
`max_pixels`, there are at most `max_frames` frames, and a frame may not grow the canvas
(a GIF frame outside the canvas of its first frame is refused before it is decoded).
Memory and CPU per upload therefore scale with `max_pixels`, never with wall-clock time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps

from chalicelib.errors import ApiError, InvalidField, PayloadTooLarge, UnsupportedMediaType

log = logging.getLogger(__name__)

# Pillow format name -> (content type, file extension)
SUPPORTED_FORMATS: dict[str, tuple[str, str]] = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
# A multi-picture JPEG (stereo cameras) opens as "MPO"; its first picture is a plain JPEG.
_SAME_AS = {"MPO": "JPEG"}
ANIMATED_FORMATS = frozenset({"GIF", "PNG", "WEBP"})

# The longest a whole animation may last: GIF's largest single delay (0xFFFF centiseconds).
# Pillow's writers merge identical consecutive frames by adding their delays, so bounding
# the sum (not only each delay) is what keeps every merged delay writable in every format.
MAX_ANIMATION_MS = 655_350
# Loop counts are 16-bit in GIF and WebP; 0 means "forever".
MAX_LOOPS = 0xFFFF

DEFAULT_MAX_FRAMES = 200
DEFAULT_CONCURRENT_DECODES = 1

# Pillow raises DecompressionBombError for one allocation over twice MAX_IMAGE_PIXELS. Some of
# its allocations happen inside a seek, before this module can look (a GIF frame's disposal
# area), so the limit is set from the budget: no single canvas Pillow allocates exceeds it.
# Between half the budget and the budget Pillow only warns; our own accounting decides.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _return_large_blocks_to_the_system() -> None:
    """Serve every allocation of 1 MiB or more from its own mapping, freed back at once.

    glibc otherwise raises its mmap threshold after the first large free, and later canvases
    come from per-thread arenas that keep freed memory for that thread: decodes that take
    turns on different threads then add up in RSS instead of reusing the same memory."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)
    except (OSError, AttributeError):  # not glibc: its allocator has no such threshold
        pass


_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
_return_large_blocks_to_the_system()


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def sanitize_avatar(data: bytes, max_pixels: int, max_frames: int = DEFAULT_MAX_FRAMES,
                    concurrent_decodes: int = DEFAULT_CONCURRENT_DECODES) -> CleanImage:
    """Decode within the budget and re-encode pixels only; raise an ApiError otherwise.

    At most `concurrent_decodes` uploads of this process decode at once (the rest wait), so
    a process's memory for images is that many times one upload's bound."""
    if not data:
        raise InvalidField("avatar", "the file is empty")
    Image.MAX_IMAGE_PIXELS = (max_pixels + 1) // 2   # Pillow refuses above twice this
    with _decode_slot(concurrent_decodes):
        return _sanitize(data, max_pixels, max_frames)


_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


@contextmanager
def _decode_slot(limit: int) -> Iterator[None]:
    with _slots_lock:
        slot = _slots.setdefault(limit, threading.BoundedSemaphore(limit))
    with slot:
        yield


def _sanitize(data: bytes, max_pixels: int, max_frames: int) -> CleanImage:
    try:
        # The decoder (and the canvases it keeps, two for WebP) is gone when _decoded returns,
        # so decoding and encoding never hold memory at the same time.
        fmt, frames, durations, loop = _decoded(data, max_pixels, max_frames)
        cleaned = _encode(frames, durations, loop, fmt)
    except ApiError:
        raise
    except Image.DecompressionBombError:
        raise _too_many_pixels(max_pixels) from None
    except Exception:  # noqa: BLE001 - the codec failing on hostile bytes is bad input
        log.info("avatar could not be decoded", exc_info=True)
        raise InvalidField("avatar", "the image data is corrupt or truncated") from None
    content_type, extension = SUPPORTED_FORMATS[fmt]
    width, height = frames[0].size
    return CleanImage(cleaned, content_type, extension, width, height)


def _decoded(data: bytes, max_pixels: int, max_frames: int):
    try:
        image = Image.open(io.BytesIO(data), formats=[*SUPPORTED_FORMATS, *_SAME_AS])
    except Image.DecompressionBombError:
        raise _too_many_pixels(max_pixels) from None
    except Exception:  # noqa: BLE001 - any failure to identify hostile bytes is the client's
        raise UnsupportedMediaType("avatar must be a PNG, JPEG, GIF or WebP image") from None
    with image:
        fmt = _SAME_AS.get(image.format or "", image.format or "")
        if fmt not in SUPPORTED_FORMATS:
            raise UnsupportedMediaType("avatar must be a PNG, JPEG, GIF or WebP image")
        return (fmt, *_decode(image, fmt, max_pixels, max_frames))


def _too_many_pixels(max_pixels: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"avatar is a decompression bomb: over {max_pixels} pixels")


def _decode(image: Image.Image, fmt: str, max_pixels: int, max_frames: int
            ) -> tuple[list[Image.Image], list[int], int | None]:
    """Decode frame by frame, checking the budget before each frame is decoded."""
    # The canvas is fixed by the first frame (Pillow, like browsers, widens a GIF's logical
    # screen to fit its first frame); later frames must fit inside it.
    width, height = image.size
    if width * height > max_pixels:
        raise PayloadTooLarge(f"avatar is too large: {width}x{height} exceeds {max_pixels} pixels")
    frames: list[Image.Image] = []
    durations: list[int] = []
    loop = None
    to_srgb = None
    while True:
        index = len(frames)
        if index:
            if fmt not in ANIMATED_FORMATS:
                break
            try:
                image.seek(index)
            except EOFError:
                break
            if index >= max_frames:
                raise PayloadTooLarge(f"avatar has more than {max_frames} frames")
            if image.size != (width, height):
                raise InvalidField(
                    "avatar", f"frame {index + 1} does not fit the {width}x{height} canvas "
                    "of the first frame")
        if (index + 1) * width * height > max_pixels:
            raise PayloadTooLarge(
                f"avatar is too large: {width}x{height} x {index + 1} frames exceeds "
                f"{max_pixels} decoded pixels")
        image.load()
        if index == 0:
            loop = image.info.get("loop")
            to_srgb = _srgb_transform(image)
            if fmt != "GIF" and not getattr(image, "is_animated", False):
                _apply_orientation(image)
        frames.append(_pixels_only(image, to_srgb))
        durations.append(image.info.get("duration") or 0)
    return frames, _bounded_durations(durations), loop


def _pixels_only(frame: Image.Image, to_srgb) -> Image.Image:
    """A copy holding the pixels and, for palette or colour-key images, the transparent colour."""
    if to_srgb is not None:
        source = frame if frame.mode == to_srgb.input_mode else frame.convert(to_srgb.input_mode)
        clean = ImageCms.applyTransform(source, to_srgb)
    else:
        clean = frame.copy()
        if "transparency" in frame.info:
            clean.info = {"transparency": frame.info["transparency"]}
            return clean
    clean.info = {}
    return clean


def _srgb_transform(image: Image.Image):
    """A transform from the image's embedded ICC profile to sRGB, or None.

    The profile is arbitrary bytes from the client, so it is never stored: the pixels are
    converted to sRGB (what an untagged image means on the web) and the profile dropped.
    A profile that cannot be parsed or does not fit the pixels is ignored, as browsers do."""
    profile = image.info.get("icc_profile")
    if not profile:
        return None
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info)
    if image.mode in ("RGB", "CMYK", "L"):
        in_mode = image.mode
    else:
        in_mode = "RGBA" if has_alpha else "RGB"
    out_mode = "RGBA" if in_mode == "RGBA" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        return ImageCms.buildTransform(source, _SRGB, in_mode, out_mode)
    except Exception:  # noqa: BLE001 - a broken or mismatched profile renders as untagged
        return None


_SRGB = ImageCms.createProfile("sRGB")


def _apply_orientation(image: Image.Image) -> None:
    """Turn a still image's pixels the way its EXIF orientation says, before EXIF is dropped."""
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception:  # noqa: BLE001 - unreadable EXIF means no orientation
        log.info("avatar EXIF orientation ignored", exc_info=True)


def _bounded_durations(durations: list[float]) -> list[int]:
    """Delays as whole milliseconds whose sum fits MAX_ANIMATION_MS: absurd delays are cut."""
    clean = [int(min(max(d, 0), MAX_ANIMATION_MS)) if d == d else 0 for d in durations]
    if sum(clean) > MAX_ANIMATION_MS:
        longest = MAX_ANIMATION_MS // len(clean)
        clean = [min(d, longest) for d in clean]
    return clean


def _encode(frames: list[Image.Image], durations: list[int], loop: int | None,
            fmt: str) -> bytes:
    out = io.BytesIO()
    first = frames[0]
    options: dict[str, object] = {}
    if fmt == "JPEG":
        options = {"quality": 90, "optimize": True}
        if first.mode not in ("RGB", "L", "CMYK"):
            first = first.convert("RGB")
    elif fmt == "WEBP":
        options = {"quality": 90}
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], duration=durations)
        if loop is not None:
            options["loop"] = min(max(int(loop), 0), MAX_LOOPS)
        elif fmt != "GIF":
            options["loop"] = 0
    first.save(out, format=fmt, **options)
    return out.getvalue()
