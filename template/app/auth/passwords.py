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
from zxcvbn.matching import L33T_TABLE

from app.core.errors import FieldError

# zxcvbn's time is its l33t matcher's: it searches every substring for dictionary words once per
# reading of the l33t characters present (4 as a, | as i or l, ...), up to 736 readings.
# Measured in CPU time with zxcvbn 4.5, the costliest texts we could build take ~2 s at 64
# characters holding all 20 l33t characters (("4@8({[<369!|17105$+%2" * 4)[:64]), ~25 ms at 32
# holding 6, ~30 ms at 12 holding any, ~12 ms at 32 holding none; an argon2 hash takes ~30 ms.
# So zxcvbn reads at most 32 characters, and stops before a 7th distinct l33t character unless
# that leaves fewer than 12, the shortest password allowed. The password is kept and hashed
# whole; what zxcvbn does not read can only add strength.
ANALYSED_LENGTH = 32
L33T_VARIETY = 6
MIN_ANALYSED_LENGTH = 12
L33T_CHARACTERS = frozenset(char for chars in L33T_TABLE.values() for char in chars)
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


def analysed_part(password: str) -> str:
    """The start of the password that zxcvbn reads, short enough to cost a few milliseconds."""
    seen: set[str] = set()
    for index, char in enumerate(password[:ANALYSED_LENGTH]):
        if char in L33T_CHARACTERS and char not in seen:
            if len(seen) == L33T_VARIETY:
                return password[: max(index, MIN_ANALYSED_LENGTH)]
            seen.add(char)
    return password[:ANALYSED_LENGTH]


def estimate_strength(password: str, user_inputs: list[str]) -> Strength:
    result: dict[str, Any] = zxcvbn(analysed_part(password), user_inputs=user_inputs)
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
