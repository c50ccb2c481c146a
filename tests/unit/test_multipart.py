import pytest

from chalicelib.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from chalicelib.multipart_form import MAX_PARTS, parse_form

CT = "multipart/form-data; boundary=XyZ"


def part(name: str, value: bytes, filename: str | None = None, ctype: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--XyZ\r\nContent-Disposition: {disposition}\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--XyZ--\r\n"


def test_fields_and_files_are_parsed_byte_exact():
    blob = bytes(range(256)) * 4 + b"\r\n--XyZ-not-a-boundary\r\n"
    form = parse_form(CT, body(part("name", "Zoë".encode()), part("avatar", blob, "a.png", "image/png")),
                      max_file_bytes=10_000)
    assert form.fields == {"name": "Zoë"}
    assert form.files["avatar"].data == blob
    assert form.files["avatar"].filename == "a.png"


@pytest.mark.parametrize("content_type", [None, "", "application/json", "text/plain",
                                          "application/x-www-form-urlencoded"])
def test_non_multipart_is_unsupported(content_type):
    with pytest.raises(UnsupportedMediaType):
        parse_form(content_type, b"{}", 100)


def test_missing_boundary_is_a_bad_request():
    with pytest.raises(InvalidRequest):
        parse_form("multipart/form-data", b"", 100)


@pytest.mark.parametrize("raw", [
    b"garbage",
    b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
    b"",
])
def test_malformed_or_truncated_bodies_are_bad_requests(raw):
    with pytest.raises(InvalidRequest):
        parse_form(CT, raw, 100)


def test_part_without_name_is_rejected():
    raw = b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--\r\n"
    with pytest.raises(InvalidRequest):
        parse_form(CT, raw, 100)


def test_repeated_field_is_rejected():
    with pytest.raises(InvalidRequest):
        parse_form(CT, body(part("email", b"a@b.io"), part("email", b"c@d.io")), 100)


def test_oversized_part_is_too_large():
    with pytest.raises(PayloadTooLarge):
        parse_form(CT, body(part("avatar", b"x" * 101, "a.png")), max_file_bytes=100)


def test_too_many_parts_are_rejected():
    parts = [part(f"f{i}", b"x") for i in range(MAX_PARTS + 1)]
    with pytest.raises(InvalidRequest):
        parse_form(CT, body(*parts), 100)


def test_text_field_must_be_utf8():
    with pytest.raises(InvalidRequest):
        parse_form(CT, body(part("name", b"\xff\xfe")), 100)


def test_utf8_filenames_and_latin1_range_names_survive():
    raw = ('--XyZ\r\nContent-Disposition: form-data; name="avatar"; filename="аватар-résumé.png"\r\n'
           "Content-Type: image/png\r\n\r\nPNG\r\n--XyZ--\r\n").encode()
    form = parse_form(CT, raw, 100)
    assert form.files["avatar"].filename == "аватар-résumé.png"


def test_overlong_boundary_is_a_bad_request():
    with pytest.raises(InvalidRequest):
        parse_form("multipart/form-data; boundary=" + "b" * 300, b"--" + b"b" * 300, 100)
