import pytest

from chalicelib.errors import InvalidField
from chalicelib.validation import NAME_MAX_CHARS, clean_email, clean_name


@pytest.mark.parametrize("raw, expected", [
    ("Test User", "Test User"),
    ("  padded  ", "padded"),
    ("Zoë Ångström", "Zoë Ångström"),
    ("x" * NAME_MAX_CHARS, "x" * NAME_MAX_CHARS),
])
def test_valid_names_are_trimmed(raw, expected):
    assert clean_name(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "x" * (NAME_MAX_CHARS + 1), "bad\x00name",
                                 "line\nbreak", "tab\there", "bidi\u202eoverride", "esc\x1b[31m"])
def test_invalid_names_are_rejected(raw):
    with pytest.raises(InvalidField) as error:
        clean_name(raw)
    assert error.value.field == "name"


@pytest.mark.parametrize("raw, expected", [
    ("test-user@prima.it", "test-user@prima.it"),
    ("Ann@X.io", "ann@x.io"),
    ("  MiXeD.Case@Example.COM ", "mixed.case@example.com"),
])
def test_emails_are_normalized_to_lower_case(raw, expected):
    assert clean_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "plainaddress", "a@", "@b.io", "a b@c.io", "a@b@c.io",
                                 "ann@localhost", "a@" + "x" * 300 + ".io"])
def test_invalid_emails_are_rejected_without_dns(raw):
    with pytest.raises(InvalidField) as error:
        clean_email(raw)
    assert error.value.field == "email"
