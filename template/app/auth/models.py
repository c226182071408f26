"""Users and their sign-in sessions: the tables, and the schemas the API reads and writes."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self
from uuid import UUID, uuid4

from pydantic import StringConstraints
from sqlalchemy import Column, Enum, Index
from sqlmodel import Field, SQLModel

from app.auth.identifiers import MAX_EMAIL_LENGTH, AccountEmail
from app.core.models import FORBID_EXTRA, RESPONSE, CallerCheck, Schema, utcnow
from app.core.pagination import CURSOR_LENGTH, Page, PageQuery, cursor_param, sort_param
from app.core.types import Flag, SearchText

# ASVS V6.2: at least 12 characters, long passphrases allowed, nothing trimmed or truncated.
MAX_PASSWORD_LENGTH = 128
Password = Annotated[str, StringConstraints(min_length=12, max_length=MAX_PASSWORD_LENGTH)]
FullName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# The newest sessions a user sees and may end at once; older ones still end with a password change.
MAX_LISTED_SESSIONS = 100


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


# Tables.


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    email: str = Field(max_length=MAX_EMAIL_LENGTH, unique=True, index=True)
    full_name: str | None = Field(default=None, max_length=200)
    password_hash: str = Field(max_length=255)
    role: Role = Field(
        default=Role.USER,
        sa_column=Column(
            Enum(
                Role,
                native_enum=False,
                length=16,
                values_callable=lambda roles: [r.value for r in roles],
            ),
            nullable=False,
        ),
    )
    is_active: bool = True
    email_verified: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class Caller:
    """The signed-in user as the session check read them: a plain row, read-only, so nothing
    written to it can be silently lost. A route that changes the account takes `CurrentAccount`,
    the `User` itself, instead."""

    id: UUID
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    email_verified: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RowOwner:
    """Whose rows a route lists or creates: a `Caller`'s (`of`), or those of the user an access
    token names, with the check of the token's session (`check`, from `ResourceOwner`'s
    dependency) still to be made by the statement that lists or inserts the rows: a statement
    less a request (docs/performance.md)."""

    id: UUID
    check: CallerCheck | None

    @classmethod
    def of(cls, caller: Caller) -> Self:
        """A caller whose session was checked already."""
        return cls(id=caller.id, check=None)


class AuthSession(SQLModel, table=True):
    """One sign-in: the family of refresh tokens that rotate from one login."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id", "user_id"),)

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    user_id: UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class RefreshToken(SQLModel, table=True):
    """A refresh token, kept as a hash; `used_at` marks it spent after one rotation."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_session_id", "session_id"),)

    id: UUID = Field(primary_key=True)
    session_id: UUID = Field(foreign_key="auth_sessions.id", ondelete="CASCADE")
    token_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class AccountTokenPurpose(StrEnum):
    RESET = "reset"  # a forgotten password
    VERIFY = "verify"  # the address given at sign-up
    CHANGE_EMAIL = "change_email"  # a new address, confirmed from it


class AccountToken(SQLModel, table=True):
    """A single-use token mailed to a user, kept as a hash and deleted when used or replaced.

    `email` is the address it went to: a verification or an email change applies to it only.
    """

    __tablename__ = "account_tokens"
    __table_args__ = (Index("ix_account_tokens_user_id", "user_id"),)

    id: UUID = Field(default_factory=uuid4, primary_key=True)
    user_id: UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    purpose: AccountTokenPurpose = Field(
        sa_column=Column(
            Enum(
                AccountTokenPurpose,
                native_enum=False,
                length=16,
                values_callable=lambda purposes: [p.value for p in purposes],
            ),
            nullable=False,
        ),
    )
    token_hash: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=MAX_EMAIL_LENGTH)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


# Schemas.


class Registration(Schema):
    """What a new user sends to sign up."""

    model_config = FORBID_EXTRA

    email: AccountEmail = Field(max_length=MAX_EMAIL_LENGTH)
    password: Password
    full_name: FullName | None = None


class UserPublic(Schema):
    """A user as the API shows it: never the password hash."""

    model_config = RESPONSE

    id: UUID
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    email_verified: bool
    created_at: datetime


class ProfileUpdate(Schema):
    """The fields a user may change on their own profile; the email changes through
    `POST /users/me/email`, confirmed from the new address."""

    model_config = FORBID_EXTRA

    full_name: FullName | None = None


class EmailChange(Schema):
    """A new sign-in address, confirmed with the current password."""

    model_config = FORBID_EXTRA

    new_email: AccountEmail = Field(max_length=MAX_EMAIL_LENGTH)
    current_password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class PasswordForgotten(Schema):
    model_config = FORBID_EXTRA

    email: AccountEmail = Field(max_length=MAX_EMAIL_LENGTH)


# A mailed token: 43 characters of URL-safe base64 (32 random bytes); room to spare, no more.
MailedToken = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class PasswordReset(Schema):
    model_config = FORBID_EXTRA

    token: MailedToken
    new_password: Password


class TokenConfirmation(Schema):
    """The token of a mailed link: an address check or an email change."""

    model_config = FORBID_EXTRA

    token: MailedToken


class PasswordChange(Schema):
    model_config = FORBID_EXTRA

    current_password: str = Field(max_length=128)
    new_password: Password


class SessionPublic(Schema):
    """A live sign-in session of the caller; `current` is the one of this request's token."""

    model_config = RESPONSE

    id: UUID
    created_at: datetime
    expires_at: datetime
    current: bool


class SessionsEnd(Schema):
    """Sessions to end, confirmed with the current password (ASVS V7.5.2)."""

    model_config = FORBID_EXTRA

    current_password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    session_ids: list[UUID] = Field(min_length=1, max_length=MAX_LISTED_SESSIONS)


class UserAdminUpdate(Schema):
    """What an admin may change on another user."""

    model_config = FORBID_EXTRA

    role: Role = Field(default=None)
    is_active: Flag = Field(default=None)


class RefreshRequest(Schema):
    model_config = FORBID_EXTRA

    refresh_token: str = Field(max_length=4096)


class TokenPair(Schema):
    """The OAuth2 token response, with the refresh token that renews it."""

    model_config = RESPONSE

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    expires_in: int
    refresh_token: str


UserSort = Literal[
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "email",
    "-email",
]


class UserQuery(PageQuery):
    """The admin user list's parameters: bounds, an allow-listed sort, and the filters."""

    searched = ("email",)

    sort: UserSort = sort_param(UserSort, "-created_at")
    # Room for a cursor of the longest email: a character is at most 6 bytes of JSON (\u001f), so
    # 8 of base64.
    cursor: str | None = cursor_param(CURSOR_LENGTH + 8 * MAX_EMAIL_LENGTH)
    # As long as an email, which holds no space: one word may be all of it.
    q: SearchText | None = Field(default=None, min_length=1, max_length=MAX_EMAIL_LENGTH)
    role: list[Role] | None = Field(default=None, max_length=100)
    is_active: list[bool] | None = Field(default=None, max_length=100)


UserPage = Page[UserPublic]
