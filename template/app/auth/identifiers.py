"""The email that names an account: one spelling of it, however it is typed.

Sign-in and sign-up count attempts per account under this spelling, and accounts are stored and
looked up by it, so no other spelling of an address can reach its account uncounted.
"""

import unicodedata
from typing import Annotated

from pydantic import BeforeValidator, EmailStr

MAX_EMAIL_LENGTH = 320


def normalize_email(email: str) -> str:
    """Fold compatibility forms (NFKC: a fullwidth letter is the letter, a no-break space a
    space), drop surrounding whitespace of any kind and lower-case.

    `lower()`, not `casefold()`: the two agree on ASCII, and accounts were stored lower-cased,
    while `casefold()` would also make `straße` and `strasse` one account, which a mail server
    may not.
    """
    folded = unicodedata.normalize("NFKC", email).strip().lower()
    # Lower-casing can free a letter to take its accent (J + caron becomes ǰ): compose again.
    return unicodedata.normalize("NFKC", folded)


def _normalized(value: object) -> object:
    # Before validation, so the address that is checked is the one that is stored. Anything that
    # cannot be an email (too long, not text) goes on unread, to be refused.
    if isinstance(value, str) and len(value) <= MAX_EMAIL_LENGTH:
        return normalize_email(value)
    return value


# An email as accounts hold it: normalised, then validated.
AccountEmail = Annotated[EmailStr, BeforeValidator(_normalized)]
