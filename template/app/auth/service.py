"""Sign-up, sign-in, token rotation and user management: the rules, with no HTTP in sight."""

import hmac
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, bindparam, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker
from sqlalchemy.sql.selectable import ScalarSelect
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit.models import AuditEventType, Detail
from app.audit.service import record
from app.auth.identifiers import MAX_EMAIL_LENGTH, normalize_email
from app.auth.models import (
    MAX_LISTED_SESSIONS,
    MAX_PASSWORD_LENGTH,
    AccountToken,
    AccountTokenPurpose,
    AuthSession,
    Caller,
    EmailChange,
    PasswordChange,
    PasswordReset,
    ProfileUpdate,
    RefreshToken,
    Registration,
    Role,
    RowOwner,
    SessionPublic,
    SessionsEnd,
    TokenPair,
    User,
    UserAdminUpdate,
    UserPublic,
    UserQuery,
)
from app.auth.passwords import check_password
from app.core.config import Settings
from app.core.errors import (
    AppError,
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)
from app.core.mail import Mail, Mailer
from app.core.metrics import REFRESH_TOKEN_REUSE, SIGN_INS_FAILED, SIGN_INS_SUCCEEDED
from app.core.models import utcnow
from app.core.pagination import Page, paginate_rows
from app.core.security import (
    TokenClaims,
    create_token,
    decode_token,
    fingerprint,
    hash_password,
    verify_password,
)

logger = logging.getLogger(__name__)

SIGN_IN_FAILED = "Incorrect email or password"
EMAIL_TAKEN = "An account with this email already exists."
INVALID_LINK = "This link is invalid, used or expired; ask for a new one."


async def find_user_by_email(*, session: AsyncSession, email: str) -> User | None:
    statement = select(User).where(User.email == normalize_email(email))
    return (await session.exec(statement)).first()


async def register(
    *,
    session: AsyncSession,
    settings: Settings,
    data: Registration,
    role: Role = Role.USER,
    verified: bool = False,
) -> User:
    await check_password(
        data.password,
        field="password",
        min_score=settings.password_min_score,
        email=data.email,
        full_name=data.full_name,
    )
    if await find_user_by_email(session=session, email=data.email):
        raise ConflictError(EMAIL_TAKEN)
    user = User(
        email=normalize_email(data.email),
        full_name=data.full_name,
        password_hash=await hash_password(data.password),
        role=role,
        email_verified=verified,
    )
    session.add(user)
    await _commit_claiming_email(session)
    return user


async def _commit_claiming_email(session: AsyncSession) -> None:
    """Commit a user's email; if another request took it since our check, the index refuses."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise ConflictError(EMAIL_TAKEN) from None


async def authenticate(*, session: AsyncSession, email: str, password: str) -> User:
    """The same failure, in about the same time, for an unknown, disabled or wrong-password user."""
    if len(password) > MAX_PASSWORD_LENGTH or len(email) > MAX_EMAIL_LENGTH:
        # No such account can exist; refuse before hashing megabytes of attacker input.
        SIGN_INS_FAILED.inc()
        raise AuthenticationError(SIGN_IN_FAILED)
    user = await find_user_by_email(session=session, email=email)
    matches, upgraded_hash = await verify_password(password, user.password_hash if user else None)
    if user is None or not matches or not user.is_active:
        logger.info("Sign-in failed", extra={"event": "login.failed"})
        SIGN_INS_FAILED.inc()
        raise AuthenticationError(SIGN_IN_FAILED)
    if upgraded_hash:
        user.password_hash = upgraded_hash
        await session.commit()
    logger.info("Sign-in succeeded for user %s", user.id, extra={"event": "login.succeeded"})
    SIGN_INS_SUCCEEDED.inc()
    return user


async def record_lockout(*, session: AsyncSession, email: str, client_address: str | None) -> None:
    """Audit that sign-ins to the account of `email` are refused for a while. Nothing for an
    address no account has: the log tells no more than sign-in does."""
    user = await find_user_by_email(session=session, email=email)
    if user is None:
        return
    record(
        session=session,
        event=AuditEventType.LOCKED_OUT,
        actor_id=None,
        target_id=user.id,
        client_address=client_address,
    )
    await session.commit()
    logger.warning(
        "Sign-ins to user %s refused for a while", user.id, extra={"event": "login.locked_out"}
    )


async def record_reauthentication_lockout(
    *, session: AsyncSession, user_id: UUID, client_address: str | None
) -> None:
    """Audit that the password checks of a signed-in user are refused for a while: whoever
    holds their access token has guessed at their password."""
    record(
        session=session,
        event=AuditEventType.LOCKED_OUT,
        actor_id=user_id,
        target_id=user_id,
        client_address=client_address,
        detail={"reason": "reauthentication"},
    )
    await session.commit()
    logger.warning(
        "Password checks of user %s refused for a while",
        user_id,
        extra={"event": "reauthentication.locked_out"},
    )


async def start_session(*, session: AsyncSession, settings: Settings, user: User) -> TokenPair:
    now = utcnow()
    auth_session = AuthSession(
        user_id=user.id, expires_at=now + timedelta(days=settings.refresh_token_days)
    )
    session.add(auth_session)
    return await _issue_tokens(
        session=session, settings=settings, auth_session=auth_session, now=now
    )


async def _issue_tokens(
    *, session: AsyncSession, settings: Settings, auth_session: AuthSession, now: datetime
) -> TokenPair:
    """A new access token and the next refresh token of the session; commits."""
    user_id, session_id = auth_session.user_id, auth_session.id
    access_expires = now + timedelta(minutes=settings.access_token_minutes)
    access_token, _ = create_token(
        settings,
        kind="access",
        user_id=user_id,
        session_id=session_id,
        now=now,
        expires=access_expires,
    )
    refresh_token, refresh_id = create_token(
        settings,
        kind="refresh",
        user_id=user_id,
        session_id=session_id,
        now=now,
        expires=auth_session.expires_at,
    )
    session.add(
        RefreshToken(
            id=refresh_id,
            session_id=auth_session.id,
            token_hash=fingerprint(refresh_token),
            expires_at=auth_session.expires_at,
        )
    )
    await session.commit()
    return TokenPair(
        access_token=access_token,
        expires_in=settings.access_token_minutes * 60,
        refresh_token=refresh_token,
    )


async def rotate_refresh_token(
    *, session: AsyncSession, settings: Settings, refresh_token: str, client_address: str | None
) -> TokenPair:
    """Spend a refresh token for a new pair; a spent token that comes back ends its session."""
    claims = decode_token(settings, refresh_token, expected_type="refresh")
    stored = await session.get(RefreshToken, claims.jti)
    if (
        stored is None
        or stored.session_id != claims.sid
        or not hmac.compare_digest(stored.token_hash, fingerprint(refresh_token))
    ):
        raise AuthenticationError
    now = utcnow()
    # Atomic: of two concurrent uses of one token, only one can mark it spent.
    spend = (
        update(RefreshToken)
        .where(col(RefreshToken.id) == stored.id, col(RefreshToken.used_at).is_(None))
        .values(used_at=now)
    )
    if (await session.exec(spend)).rowcount != 1:
        where = col(AuthSession.id) == claims.sid
        if ended := await _revoke_sessions(session=session, where=where, now=now):
            record(
                session=session,
                event=AuditEventType.SESSIONS_ENDED,
                actor_id=None,
                target_id=claims.sub,
                client_address=client_address,
                detail={"sessions_ended": ended, "reason": "refresh_token_reused"},
            )
        await session.commit()
        logger.warning(
            "Refresh token reused; session %s revoked",
            claims.sid,
            extra={"event": "refresh.reused"},
        )
        REFRESH_TOKEN_REUSE.inc()
        raise AuthenticationError
    auth_session = await _live_session(session=session, session_id=claims.sid, now=now)
    if auth_session is None:
        await session.commit()
        raise AuthenticationError
    return await _issue_tokens(
        session=session, settings=settings, auth_session=auth_session, now=now
    )


async def _live_session(
    *, session: AsyncSession, session_id: UUID, now: datetime
) -> AuthSession | None:
    statement = (
        select(AuthSession)
        .join(User)
        .where(
            col(AuthSession.id) == session_id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > now,
            col(User.is_active),
        )
    )
    return (await session.exec(statement)).first()


async def _revoke_sessions(
    *, session: AsyncSession, where: ColumnElement[bool], now: datetime
) -> int:
    """End the live sessions `where` selects; how many there were."""
    revoke = (
        update(AuthSession)
        .where(where, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return (await session.exec(revoke)).rowcount


# A live session of an active user: logout, disabling and role changes act at once.
_LIVE_SESSION = (
    col(User.id) == bindparam("user_id"),
    col(User.is_active),
    col(AuthSession.id) == bindparam("session_id"),
    col(AuthSession.revoked_at).is_(None),
    col(AuthSession.expires_at) > bindparam("now"),
)
# Built once: each statement's cache key is then memoized, not recomputed on every request.
_CALLER = (
    select(*(col(getattr(User, field.name)) for field in fields(Caller)))
    .join(AuthSession)
    .where(*_LIVE_SESSION)
)
_SESSION_USER = select(User).join(AuthSession).where(*_LIVE_SESSION)
# The check that a statement of the caller's rows makes (`SessionCheck`): NULL without a live
# session, else whether the email is verified. The conditions on it are built once, too.
_LIVE_SESSION_VERIFIED = (
    select(col(User.email_verified))
    .join(AuthSession)
    .where(*_LIVE_SESSION)
    .correlate(None)
    .scalar_subquery()
)
_LIVE = _LIVE_SESSION_VERIFIED.is_not(None)
_LIVE_AND_VERIFIED = _LIVE_SESSION_VERIFIED.is_(True)

UNVERIFIED = "Verify your email address first: follow the link we mailed you, or ask for a new one."


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """The `CallerCheck` of an access token's session, made by the statement that lists or
    creates the caller's rows."""

    params: Mapping[str, Any]
    verified_only: bool

    @property
    def column(self) -> ScalarSelect[bool]:
        return _LIVE_SESSION_VERIFIED

    @property
    def admitted(self) -> ColumnElement[bool]:
        return _LIVE_AND_VERIFIED if self.verified_only else _LIVE

    def admit(self, verified: bool | None) -> None:
        if verified is None:
            raise AuthenticationError
        if self.verified_only and not verified:
            raise ForbiddenError(UNVERIFIED)


def row_owner(claims: TokenClaims, *, verified_only: bool) -> RowOwner:
    """The user an access token names, for the statement of their rows to check (`RowOwner`)."""
    params = {"user_id": claims.sub, "session_id": claims.sid, "now": utcnow()}
    return RowOwner(id=claims.sub, check=SessionCheck(params, verified_only))


async def get_caller(
    *, connection: AsyncConnection, user_id: UUID, session_id: UUID
) -> Caller | None:
    """The user behind a live session, as a row: no ORM object to build, so the check that
    nearly every request makes costs one plain statement (docs/performance.md)."""
    params = {"user_id": user_id, "session_id": session_id, "now": utcnow()}
    row = (await connection.execute(_CALLER, params)).first()
    return None if row is None else Caller(*row)


async def get_session_user(
    *, session: AsyncSession, user_id: UUID, session_id: UUID
) -> User | None:
    """The user behind a live session, as a `User` of the session, for a change to it."""
    params = {"user_id": user_id, "session_id": session_id, "now": utcnow()}
    return (await session.exec(_SESSION_USER, params=params)).first()


async def logout(
    *, session: AsyncSession, settings: Settings, user: User, refresh_token: str
) -> None:
    """End the session the refresh token belongs to, if it is the caller's."""
    claims = decode_token(settings, refresh_token, expected_type="refresh")
    if claims.sub == user.id:
        where = (col(AuthSession.id) == claims.sid) & (col(AuthSession.user_id) == user.id)
        await _revoke_sessions(session=session, where=where, now=utcnow())
        await session.commit()
        logger.info(
            "User %s signed out of session %s", user.id, claims.sid, extra={"event": "logout"}
        )


async def update_profile(*, session: AsyncSession, user: User, data: ProfileUpdate) -> User:
    user.sqlmodel_update(data.model_dump(exclude_unset=True))
    user.updated_at = utcnow()
    await session.commit()
    return user


async def change_password(
    *,
    session: AsyncSession,
    settings: Settings,
    user: User,
    current_session_id: UUID,
    data: PasswordChange,
    client_address: str | None,
) -> None:
    """Set a new password and end every other session of the user."""
    # The current password first: a stolen access token gets no strength estimates (nor their CPU).
    await _confirm_password(user, data.current_password)
    await _set_password(settings=settings, user=user, password=data.new_password)
    others = (col(AuthSession.user_id) == user.id) & (col(AuthSession.id) != current_session_id)
    ended = await _revoke_sessions(session=session, where=others, now=utcnow())
    await _forget_resets(session=session, user=user)
    record(
        session=session,
        event=AuditEventType.PASSWORD_CHANGED,
        actor_id=user.id,
        target_id=user.id,
        client_address=client_address,
        detail={"sessions_ended": ended},
    )
    await session.commit()
    logger.info(
        "User %s changed their password; other sessions revoked",
        user.id,
        extra={"event": "password.changed"},
    )


async def _set_password(*, settings: Settings, user: User, password: str) -> None:
    """Give `user` a new password, once the policy accepts it (a 422 on `new_password`)."""
    await check_password(
        password,
        field="new_password",
        min_score=settings.password_min_score,
        email=user.email,
        full_name=user.full_name,
    )
    user.password_hash = await hash_password(password)
    user.updated_at = utcnow()


async def _confirm_password(user: User, password: str) -> None:
    matches, _ = await verify_password(password, user.password_hash)
    if not matches:
        raise AppError("The current password is incorrect.")


async def list_sessions(
    *, session: AsyncSession, user: User, current_session_id: UUID
) -> list[SessionPublic]:
    """The user's live sessions, newest first."""
    statement = (
        select(AuthSession)
        .where(
            col(AuthSession.user_id) == user.id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > utcnow(),
        )
        .order_by(col(AuthSession.created_at).desc(), col(AuthSession.id))
        .limit(MAX_LISTED_SESSIONS)
    )
    return [
        SessionPublic(
            id=auth_session.id,
            created_at=auth_session.created_at,
            expires_at=auth_session.expires_at,
            current=auth_session.id == current_session_id,
        )
        for auth_session in await session.exec(statement)
    ]


async def end_sessions(
    *, session: AsyncSession, user: User, data: SessionsEnd, client_address: str | None
) -> None:
    """End the listed sessions of the user; ids of other users' sessions end nothing."""
    await _confirm_password(user, data.current_password)
    chosen = (col(AuthSession.user_id) == user.id) & col(AuthSession.id).in_(data.session_ids)
    if ended := await _revoke_sessions(session=session, where=chosen, now=utcnow()):
        record(
            session=session,
            event=AuditEventType.SESSIONS_ENDED,
            actor_id=user.id,
            target_id=user.id,
            client_address=client_address,
            detail={"sessions_ended": ended},
        )
    await session.commit()
    logger.info(
        "User %s ended %d of %d chosen sessions",
        user.id,
        ended,
        len(data.session_ids),
        extra={"event": "sessions.ended"},
    )


async def list_users(*, connection: AsyncConnection, query: UserQuery) -> Page[UserPublic]:
    return await paginate_rows(connection, User, query, UserPublic)


async def update_user(
    *,
    session: AsyncSession,
    actor: Caller,
    user_id: UUID,
    data: UserAdminUpdate,
    client_address: str | None,
) -> User:
    """An admin changes another user's role or active flag; disabling ends their sessions.
    Each value that changes is audited; one set to what it was is not."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFoundError("No such user.")
    if user.id == actor.id:
        raise ConflictError("Admins cannot change their own role or status; ask another admin.")
    changes = data.model_dump(exclude_unset=True)
    role, active = user.role, user.is_active
    user.sqlmodel_update(changes)
    user.updated_at = utcnow()
    ended = 0
    if changes.get("is_active") is False:
        ended = await _revoke_sessions(
            session=session, where=col(AuthSession.user_id) == user.id, now=utcnow()
        )
    audit = partial(
        record, session=session, actor_id=actor.id, target_id=user.id, client_address=client_address
    )
    if user.role != role:
        audit(event=AuditEventType.ROLE_CHANGED, detail={"from": str(role), "to": str(user.role)})
    if user.is_active != active:
        detail: Detail = {"is_active": user.is_active, "sessions_ended": ended}
        audit(event=AuditEventType.ACTIVATION_CHANGED, detail=detail)
    await session.commit()
    logger.info(
        "Admin %s changed user %s: %s",
        actor.id,
        user.id,
        sorted(changes),
        extra={"event": "user.changed"},
    )
    return user


async def promote(*, session: AsyncSession, email: str) -> User:
    """Make an existing user an admin (the first admin comes from `python -m app.cli`)."""
    user = await find_user_by_email(session=session, email=email)
    if user is None:
        raise NotFoundError(f"No user with the email {normalize_email(email)!r}.")
    if user.role != Role.ADMIN:
        # By an operator on the server: no one signed in, from no address.
        record(
            session=session,
            event=AuditEventType.ROLE_CHANGED,
            actor_id=None,
            target_id=user.id,
            client_address=None,
            detail={"from": str(user.role), "to": str(Role.ADMIN)},
        )
    user.role = Role.ADMIN
    user.updated_at = utcnow()
    await session.commit()
    logger.info("User %s is now an admin", user.id, extra={"event": "user.promoted"})
    return user


# Account mails: a forgotten password, the address given at sign-up, and a new address. Each
# carries a single-use token: random, kept as a hash, deleted when used or when a newer one of
# its purpose is issued, and valid for a set time.


async def _forget_resets(*, session: AsyncSession, user: User) -> None:
    """A reset link mailed before the password changed stops working."""
    await session.exec(
        delete(AccountToken).where(
            col(AccountToken.user_id) == user.id,
            col(AccountToken.purpose) == AccountTokenPurpose.RESET,
        )
    )


async def _issue_token(
    *,
    session: AsyncSession,
    user: User,
    purpose: AccountTokenPurpose,
    email: str,
    lifetime: timedelta,
) -> str:
    """A new token for `purpose`, mailed to `email`; the user's older one of it dies. Commits."""
    await session.exec(
        delete(AccountToken).where(
            col(AccountToken.user_id) == user.id, col(AccountToken.purpose) == purpose
        )
    )
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=fingerprint(token),
            email=email,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    await session.commit()
    return token


async def _spend_token(
    *, session: AsyncSession, token: str, purpose: AccountTokenPurpose
) -> tuple[User, str]:
    """The active user of a live `token` and the address it was mailed to. The token is deleted
    in the caller's transaction, so of two requests with it one wins; a refusal rolls it back."""
    spent = (
        delete(AccountToken)
        .where(
            col(AccountToken.token_hash) == fingerprint(token),
            col(AccountToken.purpose) == purpose,
            col(AccountToken.expires_at) > utcnow(),
        )
        .returning(col(AccountToken.user_id), col(AccountToken.email))
    )
    row = (await session.exec(spent)).first()
    user = await session.get(User, row[0]) if row else None
    if row is None or user is None or not user.is_active:
        raise AppError(INVALID_LINK)
    return user, row[1]


async def request_password_reset(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    mailer: Mailer,
    email: str,
) -> None:
    """Mail a reset link to the active account of `email`, if there is one. Runs after the
    answer, which is the same either way."""
    async with sessionmaker() as session:
        user = await find_user_by_email(session=session, email=email)
        if user is None or not user.is_active:
            logger.info(
                "Password reset asked for no active account", extra={"event": "reset.unknown"}
            )
            return
        token = await _issue_token(
            session=session,
            user=user,
            purpose=AccountTokenPurpose.RESET,
            email=user.email,
            lifetime=timedelta(minutes=settings.password_reset_minutes),
        )
    link = mailer.link("reset-password", token=token)
    minutes = settings.password_reset_minutes
    await mailer.send(
        mailer.compose("password_reset", to=user.email, link=link, expires_minutes=minutes)
    )
    logger.info("Password reset mailed to user %s", user.id, extra={"event": "reset.requested"})


async def reset_password(
    *, session: AsyncSession, settings: Settings, data: PasswordReset, client_address: str | None
) -> None:
    """Set a new password from a reset link, and end every session of the account. The holder
    of the link mailed to the account's address acts as its user."""
    user, email = await _spend_token(
        session=session, token=data.token, purpose=AccountTokenPurpose.RESET
    )
    if email != user.email:  # mailed to an address the account has left
        raise AppError(INVALID_LINK)
    await _set_password(settings=settings, user=user, password=data.new_password)
    everyone = col(AuthSession.user_id) == user.id
    ended = await _revoke_sessions(session=session, where=everyone, now=utcnow())
    record(
        session=session,
        event=AuditEventType.PASSWORD_RESET,
        actor_id=user.id,
        target_id=user.id,
        client_address=client_address,
        detail={"sessions_ended": ended},
    )
    await session.commit()
    logger.info(
        "User %s reset their password; every session revoked",
        user.id,
        extra={"event": "reset.done"},
    )


async def verification_mail(
    *, session: AsyncSession, settings: Settings, mailer: Mailer, user: User
) -> Mail | None:
    """The mail that verifies the user's address, or None once it is verified."""
    if user.email_verified:
        return None
    token = await _issue_token(
        session=session,
        user=user,
        purpose=AccountTokenPurpose.VERIFY,
        email=user.email,
        lifetime=timedelta(hours=settings.email_token_hours),
    )
    link = mailer.link("verify-email", token=token)
    return mailer.compose("verify_email", to=user.email, link=link)


async def verify_email(*, session: AsyncSession, token: str) -> None:
    user, email = await _spend_token(
        session=session, token=token, purpose=AccountTokenPurpose.VERIFY
    )
    if email != user.email:
        raise AppError(INVALID_LINK)
    user.email_verified = True
    user.updated_at = utcnow()
    await session.commit()
    logger.info("User %s verified their email", user.id, extra={"event": "email.verified"})


async def email_change_mail(
    *, session: AsyncSession, settings: Settings, mailer: Mailer, user: User, data: EmailChange
) -> Mail | None:
    """After the password, the mail that confirms `new_email` from that address. None (and the
    same answer) when another account has the address: the answer never says whose it is."""
    await _confirm_password(user, data.current_password)
    new_email = data.new_email  # normalised as it was read
    if new_email == user.email or await find_user_by_email(session=session, email=new_email):
        logger.info(
            "User %s asked to move to an address in use", user.id, extra={"event": "email.taken"}
        )
        return None
    token = await _issue_token(
        session=session,
        user=user,
        purpose=AccountTokenPurpose.CHANGE_EMAIL,
        email=new_email,
        lifetime=timedelta(hours=settings.email_token_hours),
    )
    link = mailer.link("confirm-email", token=token)
    logger.info("User %s asked to change their email", user.id, extra={"event": "email.change"})
    return mailer.compose("confirm_email_change", to=new_email, link=link)


async def confirm_email_change(
    *, session: AsyncSession, mailer: Mailer, token: str, client_address: str | None
) -> Mail:
    """Move the account to the address the token was mailed to; the notice for the old one.
    The audit row names the account, not its addresses."""
    user, new_email = await _spend_token(
        session=session, token=token, purpose=AccountTokenPurpose.CHANGE_EMAIL
    )
    # Links mailed to the old address die with it.
    await session.exec(delete(AccountToken).where(col(AccountToken.user_id) == user.id))
    old_email = user.email
    user.email = new_email
    user.email_verified = True
    user.updated_at = utcnow()
    record(
        session=session,
        event=AuditEventType.EMAIL_CHANGED,
        actor_id=user.id,
        target_id=user.id,
        client_address=client_address,
    )
    await _commit_claiming_email(session)
    logger.info("User %s changed their email", user.id, extra={"event": "email.changed"})
    return mailer.compose("email_changed", to=old_email, new_email=new_email)
