"""Reading the requests: the new-user form and the paging parameters. The rules about the
values themselves are the service's; this is only what the HTTP request carries."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.config import get_settings
from chalicelib.errors import InvalidField
from chalicelib.multipart_form import parse_form
from chalicelib.service import PAGE_LIMIT_MAX


@dataclass(frozen=True)
class UserForm:
    name: str | None
    email: str | None
    avatar: bytes | None


@dataclass(frozen=True)
class Paging:
    limit: int | None
    cursor: str | None


def user_form(request) -> UserForm:
    """POST /user's multipart body; the avatar must be a file part."""
    form = parse_form(request.headers.get("content-type"), request.raw_body,
                      max_file_bytes=get_settings().avatar_max_bytes)
    if "avatar" in form.fields:
        raise InvalidField("avatar", "must be sent as a file, not as a text field")
    avatar = form.files.get("avatar")
    return UserForm(form.fields.get("name"), form.fields.get("email"),
                    avatar.data if avatar else None)


def paging(request) -> Paging:
    """GET /users' `limit` (1..PAGE_LIMIT_MAX) and `cursor` (non-empty) query parameters."""
    query = request.query_params or {}
    raw_limit, cursor = query.get("limit"), query.get("cursor")
    limit = None
    if raw_limit is not None:
        # isascii(): str.isdigit() also accepts '²' and other scripts' digits.
        if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= PAGE_LIMIT_MAX:
            raise InvalidField("limit", f"must be an integer from 1 to {PAGE_LIMIT_MAX}")
        limit = int(raw_limit)
    if cursor is not None and not cursor:
        raise InvalidField("cursor", "must not be empty")
    return Paging(limit, cursor)


def listing(request) -> str:
    """The metrics' `listing` label of GET /users: "paged" when the client asked for a page
    (`limit` or `cursor`), "whole_table" otherwise (the service lists every user then)."""
    query = request.query_params or {}
    return "paged" if ("limit" in query or "cursor" in query) else "whole_table"
