"""ASVS V6.2 password policy: new passwords that are common or easy to guess are refused.

zxcvbn estimates how many guesses a password takes. It ships the 30,000 most common leaked
passwords and lists of English words and names, and spots keyboard walks, sequences, repeats,
dates and l33t spellings; the user's own email and name count as dictionary words too.
"""

import re
from dataclasses import dataclass
from typing import Any

from anyio import CapacityLimiter, to_thread
from zxcvbn import zxcvbn

from app.core.errors import FieldError

# zxcvbn's time grows much faster than the length: measured, a random 64-character password takes
# up to ~0.16 s, a 128-character one up to 6 s. Longer passwords are judged by their first 64
# characters (the password itself is kept whole): enough to catch a repeat, walk or phrase.
ANALYSED_LENGTH = 64
# The advice when zxcvbn has none: it only advises on the weakest scores.
DEFAULT_ADVICE = "Make it longer and less predictable, e.g. a few uncommon words."

# One estimate at a time: zxcvbn keeps the current call's user inputs in a module-level dict, so
# parallel calls could read each other's. It holds the GIL throughout, so no parallelism is lost.
_estimator_slot = CapacityLimiter(1)


@dataclass(frozen=True)
class Strength:
    score: int  # 0 (too guessable) to 4 (very unguessable)
    warning: str
    suggestions: list[str]


def estimate_strength(password: str, user_inputs: list[str]) -> Strength:
    result: dict[str, Any] = zxcvbn(password[:ANALYSED_LENGTH], user_inputs=user_inputs)
    feedback: dict[str, Any] = result["feedback"]
    return Strength(int(result["score"]), str(feedback["warning"]), list(feedback["suggestions"]))


def personal_words(email: str, full_name: str | None = None) -> list[str]:
    """The email, its parts and the name: what a password must not be built from."""
    local_part = email.rpartition("@")[0]
    words = [email, local_part, re.sub(r"\W|_", "", local_part), *re.split(r"[@.+_-]+", email)]
    if full_name:
        words += [full_name, *full_name.split()]
    return [word for word in words if word]


async def check_password(
    password: str, *, field: str, min_score: int, email: str, full_name: str | None = None
) -> None:
    """Raise a 422 for `field` when the password scores below `min_score` (0 accepts all)."""
    if min_score == 0:
        return
    strength = await to_thread.run_sync(
        estimate_strength, password, personal_words(email, full_name), limiter=_estimator_slot
    )
    if strength.score < min_score:
        # zxcvbn's feedback is fixed text: it never quotes the password.
        advice = [text for text in (strength.warning, *strength.suggestions) if text]
        message = " ".join(["This password is too easy to guess.", *(advice or [DEFAULT_ADVICE])])
        raise FieldError(field, "password_too_weak", message)
