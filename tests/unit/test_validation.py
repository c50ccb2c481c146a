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


@pytest.mark.parametrize("char, kind", [
    ("\u2028", "line separators"),                 # LINE SEPARATOR (Zl)
    ("\u2029", "paragraph separators"),            # PARAGRAPH SEPARATOR (Zp)
    ("\u202e", "invisible formatting"),            # RIGHT-TO-LEFT OVERRIDE
    ("\u2066", "invisible formatting"),            # LEFT-TO-RIGHT ISOLATE
    ("\u200f", "invisible formatting"),            # RIGHT-TO-LEFT MARK
    ("\u200b", "invisible formatting"),            # ZERO WIDTH SPACE
    ("\ufeff", "invisible formatting"),            # ZERO WIDTH NO-BREAK SPACE (BOM)
    ("\u00ad", "invisible formatting"),            # SOFT HYPHEN
    ("\U000e0041", "invisible formatting"),        # TAG LATIN CAPITAL LETTER A
    ("\u3164", "invisible characters"),            # HANGUL FILLER (a letter that shows nothing)
    ("\ue000", "private-use"),
    ("\x85", "control characters"),                # NEXT LINE
])
def test_invisible_and_layout_changing_characters_are_named_in_the_error(char, kind):
    with pytest.raises(InvalidField) as error:
        clean_name(f"Ann{char}Smith")
    assert error.value.field == "name"
    assert kind in error.value.message
    assert f"U+{ord(char):04X}" in error.value.message and "position 4" in error.value.message


@pytest.mark.parametrize("raw", ["李小龍", "Ģirts Ōtsuka-Ñúñez", "محمد", "O'Brien", "Anne\u00a0Marie"])
def test_visible_text_of_any_script_is_accepted(raw):
    assert clean_name(raw) == raw


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
