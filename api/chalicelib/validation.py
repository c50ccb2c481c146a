"""Rules for the text fields of a new user."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from chalicelib.errors import InvalidField

NAME_MAX_CHARS = 100


def clean_name(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise InvalidField("name", "must not be empty")
    if len(name) > NAME_MAX_CHARS:
        raise InvalidField("name", f"must be at most {NAME_MAX_CHARS} characters")
    # Category C* covers control, format, unassigned and private-use characters:
    # none of them belongs in a display name and some break logs and terminals.
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise InvalidField("name", "must not contain control characters")
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
