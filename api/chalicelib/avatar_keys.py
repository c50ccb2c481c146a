"""The avatar key scheme, in one place: the prefix, minting a key, the public URL of a key and
the key behind a URL."""

from __future__ import annotations

import secrets

from chalicelib.config import Settings

PREFIX = "avatars/"


def new_key(extension: str) -> str:
    # Random: unguessable, and never derived from what the client sent.
    return f"{PREFIX}{secrets.token_hex(16)}.{extension}"


def public_base(settings: Settings) -> str:
    """Where avatars are served from: AVATAR_BASE_URL (a CDN, an emulator) or the bucket."""
    if settings.avatar_base_url:
        return settings.avatar_base_url.rstrip("/")
    return f"https://{settings.avatars_bucket}.s3.{settings.region}.amazonaws.com"


def url_for(settings: Settings, key: str) -> str:
    return f"{public_base(settings)}/{key}"


def key_of(avatar_url: str) -> str | None:
    # Taken from the URL's tail, not by stripping the configured base, so a
    # change of AVATAR_BASE_URL can never make a referenced object look orphaned.
    marker = "/" + PREFIX
    if marker not in avatar_url:
        return None
    return PREFIX + avatar_url.rsplit(marker, 1)[1]
