"""multipart/form-data parsing into memory, with hard limits, on top of python-multipart."""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from chalicelib.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

MAX_PARTS = 16
MAX_TEXT_FIELD_BYTES = 16 * 1024


@dataclass
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class FormData:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)


@dataclass
class _Part:
    # Raw header values: browsers send UTF-8 filenames, which only bytes carry intact.
    headers: dict[str, bytes] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0


def parse_form(content_type: str | None, body: bytes, max_file_bytes: int) -> FormData:
    mime, params = parse_options_header(content_type or "")
    if mime != b"multipart/form-data":
        raise UnsupportedMediaType("the request body must be multipart/form-data")
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidRequest("the multipart Content-Type has no boundary")

    form = FormData()
    parts: list[_Part] = []
    header_name: list[bytes] = []
    header_value: list[bytes] = []
    finished = False

    def on_part_begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise InvalidRequest(f"too many form parts (at most {MAX_PARTS})")
        parts.append(_Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.append(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.append(data[start:end])

    def on_header_end() -> None:
        name = b"".join(header_name).decode("latin-1").strip().lower()
        parts[-1].headers[name] = b"".join(header_value).strip()
        header_name.clear()
        header_value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = parts[-1]
        part.size += end - start
        # The limit is applied while streaming, so an oversized part is never held whole.
        if part.size > max_file_bytes:
            raise PayloadTooLarge(f"a form part exceeds {max_file_bytes} bytes")
        part.chunks.append(data[start:end])

    def on_end() -> None:
        nonlocal finished
        finished = True

    try:
        parser = MultipartParser(boundary, callbacks={
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_end": on_end,
        })
        parser.write(body)
        parser.finalize()
    except FormParserError:
        raise InvalidRequest("the multipart body is malformed") from None
    if not finished:
        raise InvalidRequest("the multipart body is truncated: no closing boundary")

    for part in parts:
        disposition, options = parse_options_header(part.headers.get("content-disposition"))
        try:
            name = options.get(b"name", b"").decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest("a form field name is not valid UTF-8") from None
        if disposition != b"form-data" or not name:
            raise InvalidRequest("every form part needs a Content-Disposition with a name")
        if name in form.fields or name in form.files:
            raise InvalidRequest(f"form field {name!r} was sent more than once")
        data = b"".join(part.chunks)
        if b"filename" in options:
            form.files[name] = UploadedFile(
                filename=options[b"filename"].decode("utf-8", "replace"),
                content_type=part.headers.get("content-type", b"").decode("latin-1")
                or "application/octet-stream",
                data=data,
            )
        else:
            if len(data) > MAX_TEXT_FIELD_BYTES:
                raise PayloadTooLarge(f"form field {name!r} exceeds {MAX_TEXT_FIELD_BYTES} bytes")
            try:
                form.fields[name] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequest(f"form field {name!r} is not valid UTF-8") from None
    return form
