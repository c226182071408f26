"""Password hashing and JWTs: small functions over passlib and python-jose."""

import hashlib
import os
from datetime import datetime
from functools import cache
from typing import Literal
from uuid import UUID, uuid4

from anyio import CapacityLimiter, to_thread
from jose import JWTError, jwt
from passlib.context import CryptContext
from pydantic import BaseModel, ValidationError

from app.core.config import Settings
from app.core.errors import AuthenticationError

# argon2id at OWASP's minimum (19 MiB, t=2, p=1). Hashes made with other settings or schemes
# still verify, and verify_and_update() returns their upgrade.
password_context = CryptContext(
    schemes=["argon2"],
    deprecated="auto",
    argon2__type="ID",
    argon2__memory_cost=19 * 1024,
    argon2__time_cost=2,
    argon2__parallelism=1,
)

ALGORITHM = "HS256"
# Header parameters we accept; anything else (`crit`, `jku`, `x5u`, `jwk`, `kid`, ...) is refused.
ALLOWED_HEADER = frozenset({"alg", "typ"})
REQUIRED_CLAIMS = ("exp", "iat", "sub", "jti", "iss", "aud")

TokenType = Literal["access", "refresh"]


def _hashing_slots() -> int:
    """Hashes at once: all cores but one, which is left to the event loop (at least one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - 1)


# A sign-in storm queues here instead of taking every core and 19 MiB per worker thread, so
# requests that need no hash keep their latency.
hashing_limiter = CapacityLimiter(_hashing_slots())


async def hash_password(password: str) -> str:
    """Hash in a worker thread: argon2 would hold the event loop for tens of milliseconds."""
    return await to_thread.run_sync(password_context.hash, password, limiter=hashing_limiter)


@cache
def _dummy_hash() -> str:
    return password_context.hash("not-a-real-password")


def _verify_dummy(password: str) -> None:
    # In the worker thread too: the first call also makes the dummy hash.
    password_context.verify(password, _dummy_hash())


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Return (matches, upgraded hash or None). With no hash, check a dummy one for equal timing."""
    if password_hash is None:
        await to_thread.run_sync(_verify_dummy, password, limiter=hashing_limiter)
        return False, None
    return await to_thread.run_sync(
        password_context.verify_and_update, password, password_hash, limiter=hashing_limiter
    )


class TokenClaims(BaseModel):
    sub: UUID
    sid: UUID
    jti: UUID
    type: TokenType
    exp: int
    iat: int


def create_token(
    settings: Settings,
    *,
    kind: TokenType,
    user_id: UUID,
    session_id: UUID,
    now: datetime,
    expires: datetime,
) -> tuple[str, UUID]:
    """Sign a token; return it with its id (`jti`)."""
    token_id = uuid4()
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        "sid": str(session_id),
        "jti": str(token_id),
        "type": kind,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)
    return token, token_id


def decode_token(settings: Settings, token: str, *, expected_type: TokenType) -> TokenClaims:
    """Verify signature, algorithm, header, issuer, audience, expiry and type, or raise the 401."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != ALGORITHM or not ALLOWED_HEADER.issuperset(header):
            raise AuthenticationError
        payload = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={f"require_{claim}": True for claim in REQUIRED_CLAIMS},
        )
        claims = TokenClaims.model_validate(payload)
    except (JWTError, ValidationError):
        raise AuthenticationError from None
    if claims.type != expected_type:
        raise AuthenticationError
    return claims


def fingerprint(token: str) -> str:
    """What the database keeps of a refresh token: a leaked table cannot be replayed."""
    return hashlib.sha256(token.encode()).hexdigest()
