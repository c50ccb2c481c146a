"""Avatar checks: the bytes decide the type, and nothing but pixels is stored."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from chalicelib.errors import InvalidField, PayloadTooLarge, UnsupportedMediaType

# Pillow format name -> (content type, file extension)
SUPPORTED_FORMATS: dict[str, tuple[str, str]] = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
# Only what rendering needs survives re-encoding; EXIF, XMP, comments and text chunks do not.
_KEPT_INFO = frozenset({"transparency", "duration", "loop", "background", "icc_profile"})


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def sanitize_avatar(data: bytes, max_pixels: int) -> CleanImage:
    if not data:
        raise InvalidField("avatar", "the file is empty")
    with warnings.catch_warnings():
        # A decompression-bomb warning is a rejection here, not a log line.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(SUPPORTED_FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PayloadTooLarge(
                f"avatar is a decompression bomb: over {max_pixels} pixels") from None
        except (UnidentifiedImageError, OSError, ValueError):
            raise UnsupportedMediaType(
                "avatar must be a PNG, JPEG, GIF or WebP image"
            ) from None
        with image:
            fmt = image.format or ""
            frames = getattr(image, "n_frames", 1)
            if image.width * image.height * frames > max_pixels:
                raise PayloadTooLarge(
                    f"avatar is too large: {image.width}x{image.height}"
                    f"{f' x {frames} frames' if frames > 1 else ''} exceeds {max_pixels} pixels"
                )
            try:
                cleaned = _reencode(image, fmt)
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning):
                raise InvalidField("avatar", "the image data is corrupt or truncated") from None
    content_type, extension = SUPPORTED_FORMATS[fmt]
    return CleanImage(cleaned, content_type, extension, image.width, image.height)


def _reencode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    animated = getattr(image, "is_animated", False)
    if animated:
        frames = []
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            frames.append(image.copy())
            durations.append(image.info.get("duration", 100))
        first = frames[0]
        first.info = {k: v for k, v in first.info.items() if k in _KEPT_INFO}
        first.save(out, format=fmt, save_all=True, append_images=frames[1:],
                   duration=durations, loop=image.info.get("loop", 0))
        return out.getvalue()
    image.load()
    # Apply the EXIF orientation to the pixels before the EXIF block is dropped.
    upright = ImageOps.exif_transpose(image) or image
    upright.info = {k: v for k, v in upright.info.items() if k in _KEPT_INFO}
    options: dict[str, object] = {}
    if fmt == "JPEG":
        options = {"quality": 90, "optimize": True}
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
    elif fmt == "WEBP":
        options = {"quality": 90}
    upright.save(out, format=fmt, **options)
    return out.getvalue()
