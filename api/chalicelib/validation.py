"""Rules for the text fields of a new user."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from chalicelib.errors import InvalidField

NAME_MAX_CHARS = 100

# Unicode categories a display name may not contain. Control characters (Cc) break logs and
# terminals; format characters (Cf: bidi controls such as U+202E, zero-width characters, the
# soft hyphen) and the line and paragraph separators (Zl U+2028, Zp U+2029) are invisible or
# reorder and break the text around them, so a name could look like another one or spoof
# what follows it. Surrogates, private-use and unassigned code points (Cs, Co, Cn) have no
# agreed rendering at all.
_REFUSED_CATEGORIES = {
    "Cc": "control characters",
    "Cf": "invisible formatting characters (such as bidi controls or zero-width characters)",
    "Zl": "line separators",
    "Zp": "paragraph separators",
    "Cs": "surrogate code points",
    "Co": "private-use characters",
    "Cn": "unassigned characters",
}
# Letters by category that render as nothing: the Hangul fillers, often used for blank names.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def clean_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise InvalidField("name", "must not be empty")
    if len(name) > NAME_MAX_CHARS:
        raise InvalidField("name", f"must be at most {NAME_MAX_CHARS} characters")
    for position, char in enumerate(name, start=1):
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or char in _INVISIBLE_LETTERS:
            kind = _REFUSED_CATEGORIES.get(category, "invisible characters")
            label = unicodedata.name(char, "") or f"category {category}"
            raise InvalidField(
                "name", f"must not contain {kind}: U+{ord(char):04X} {label} at position {position}")
    return name


def clean_email(raw: str) -> str:
    """Return the canonical form of an address: syntax-checked, no DNS, lower-cased.

    Lower-casing the whole address (not only the domain) is what makes
    uniqueness case-insensitive: Ann@X.io and ann@x.io are one user.
    """
    candidate = raw.strip()
    if not candidate:
        raise InvalidField("email", "must not be empty")
    try:
        checked = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidField("email", str(error)) from None
    return checked.normalized.lower()
