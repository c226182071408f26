"""Who is calling: the bearer token, the user behind it, and the admin check (the only one)."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from app.auth import service
from app.auth.identifiers import MAX_EMAIL_LENGTH, normalize_email
from app.auth.models import (
    Caller,
    PasswordForgotten,
    RefreshRequest,
    Registration,
    Role,
    RowOwner,
    User,
)
from app.core.config import Settings
from app.core.db import get_connection, get_session
from app.core.errors import AuthenticationError, ForbiddenError, RateLimitedError
from app.core.rate_limit import RateLimiter
from app.core.security import AccessTokenReader, TokenClaims, decode_token

# Reads only the Authorization header: a token in the query string is never looked at.
bearer_token = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


# The dependencies below are `async def` though they never await: FastAPI runs a plain `def`
# dependency in the thread pool, a hop that cost more than the work on every request.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
BearerToken = Annotated[str | None, Depends(bearer_token)]


async def get_access_claims(request: Request, token: BearerToken) -> TokenClaims:
    if not token:
        raise AuthenticationError
    read_access_token: AccessTokenReader = request.app.state.read_access_token
    return read_access_token(token)


AccessClaims = Annotated[TokenClaims, Depends(get_access_claims)]


async def get_current_user(request: Request, token: BearerToken) -> Caller:
    """The caller, read as a plain row on the request's connection. It calls the claims and
    connection dependencies itself rather than through FastAPI: nearly every request solves it,
    and each level of dependencies costs more to solve than the claims do to read
    (docs/performance.md)."""
    claims = await get_access_claims(request, token)
    caller = await service.get_caller(
        connection=await get_connection(request), user_id=claims.sub, session_id=claims.sid
    )
    if caller is None:
        raise AuthenticationError
    return caller


CurrentUser = Annotated[Caller, Depends(get_current_user)]


async def get_current_account(request: Request, token: BearerToken) -> User:
    """The caller as their `User`, in the request's session, for the routes that change the
    account. The session is checked as for `CurrentUser`."""
    claims = await get_access_claims(request, token)
    user = await service.get_session_user(
        session=await get_session(request), user_id=claims.sub, session_id=claims.sid
    )
    if user is None:
        raise AuthenticationError
    return user


CurrentAccount = Annotated[User, Depends(get_current_account)]


async def require_admin(user: CurrentUser) -> Caller:
    if user.role != Role.ADMIN:
        raise ForbiddenError("This action needs the admin role.")
    return user


AdminUser = Annotated[Caller, Depends(require_admin)]


async def require_verified(user: CurrentUser) -> Caller:
    if not user.email_verified:
        raise ForbiddenError(service.UNVERIFIED)
    return user


VerifiedUser = Annotated[Caller, Depends(require_verified)]


async def get_resource_user(request: Request, token: BearerToken) -> Caller:
    """The caller of a resource route: `CurrentUser`, with a verified email where
    REQUIRE_VERIFIED_EMAIL asks for one. Each route takes it, rather than its router taking the
    check as a second dependency, which cost every request about 0.2 M instructions to solve
    (docs/performance.md); a test calls every resource route to prove that each does."""
    user = await get_current_user(request, token)
    if (await get_settings(request)).require_verified_email:
        await require_verified(user)
    return user


ResourceUser = Annotated[Caller, Depends(get_resource_user)]


async def get_resource_owner(request: Request, token: BearerToken) -> RowOwner:
    """The caller of a route that lists or creates their rows: the user the access token names,
    whose session, and email where REQUIRE_VERIFIED_EMAIL asks, the statement of the rows
    checks. A statement less than `ResourceUser` (docs/performance.md); a token that fails the
    check lists nothing and writes nothing."""
    claims = await get_access_claims(request, token)
    verified_only = (await get_settings(request)).require_verified_email
    return service.row_owner(claims, verified_only=verified_only)


ResourceOwner = Annotated[RowOwner, Depends(get_resource_owner)]


async def get_client_address(request: Request) -> str | None:
    """The caller's address: the connecting peer, or the client that a proxy listed in
    TRUSTED_PROXIES names in X-Forwarded-For (never a header from anyone else)."""
    return request.client.host if request.client else None


ClientAddress = Annotated[str | None, Depends(get_client_address)]


def _client(request: Request) -> tuple[RateLimiter, str]:
    """The limiter and the caller's address, which the per-client limits count by."""
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter, request.client.host if request.client else "unknown"


async def limit_reauthentication(
    request: Request, settings: SettingsDep, claims: AccessClaims
) -> None:
    """Password checks of a signed-in user count like sign-ins to their account, so a stolen
    access token cannot guess the password through them. The first refused check in a window
    of the limit is audited as a lock-out by that user."""
    limiter, _ = _client(request)
    limit = settings.login_account_rate_limit
    account = str(claims.sub)
    try:
        await limiter.hit(limit, "reauthenticate", account)
    except RateLimitedError:
        if await limiter.first_refusal(limit, "reauthenticate", account):
            client_address = await get_client_address(request)
            await service.record_reauthentication_lockout(
                session=await get_session(request),
                user_id=claims.sub,
                client_address=client_address,
            )
        raise


async def read_login_form(
    request: Request,
    settings: SettingsDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> OAuth2PasswordRequestForm:
    """The sign-in form, once password guessing is throttled per client address and per account.
    An account's first refused sign-in in a window of its limit is audited as a lock-out."""
    limiter, address = _client(request)
    await limiter.hit(settings.login_rate_limit, "login", address)
    # Counted under the spelling that sign-in looks up. Sign-in refuses names longer than any
    # email unread; they count as one name, so no one makes us normalise a megabyte.
    too_long = len(form.username) > MAX_EMAIL_LENGTH
    account = "" if too_long else normalize_email(form.username)
    limit = settings.login_account_rate_limit
    try:
        await limiter.hit(limit, "login-account", account)
    except RateLimitedError:
        # Once per window, not per refused guess, so guessing on cannot flood the log.
        if account and await limiter.first_refusal(limit, "login-account", account):
            client_address = await get_client_address(request)
            await service.record_lockout(
                session=await get_session(request), email=account, client_address=client_address
            )
        raise
    return form


LoginForm = Annotated[OAuth2PasswordRequestForm, Depends(read_login_form)]


async def limit_register(request: Request, settings: SettingsDep) -> None:
    """Every sign-up attempt counts per client address, a malformed one too."""
    limiter, address = _client(request)
    await limiter.hit(settings.register_rate_limit, "register", address)


async def read_registration(
    request: Request, settings: SettingsDep, data: Registration
) -> Registration:
    """The sign-up, once throttled per email address."""
    limiter, _ = _client(request)
    account = normalize_email(data.email)  # as the account will be stored
    await limiter.hit(settings.register_account_rate_limit, "register-account", account)
    return data


RegistrationData = Annotated[Registration, Depends(read_registration)]


async def limit_refresh(request: Request, settings: SettingsDep) -> None:
    """Every refresh attempt counts per client address, a malformed one too."""
    limiter, address = _client(request)
    await limiter.hit(settings.refresh_rate_limit, "refresh", address)


async def read_refresh_request(
    request: Request, settings: SettingsDep, data: RefreshRequest
) -> RefreshRequest:
    """The refresh request, once throttled per account. Only a token that verifies counts
    against its user, so no one can use up someone else's refreshes."""
    limiter, _ = _client(request)
    claims = decode_token(settings, data.refresh_token, expected_type="refresh")
    await limiter.hit(settings.refresh_account_rate_limit, "refresh-account", str(claims.sub))
    return data


RefreshData = Annotated[RefreshRequest, Depends(read_refresh_request)]


async def limit_account_mail(request: Request, settings: SettingsDep) -> None:
    """Every request that mails a link, or follows one, counts per client address."""
    limiter, address = _client(request)
    await limiter.hit(settings.account_mail_rate_limit, "account-mail", address)


async def limit_my_account_mail(
    request: Request, settings: SettingsDep, user: CurrentAccount
) -> None:
    """A signed-in user's requests for mail count per account too."""
    limiter, _ = _client(request)
    await limiter.hit(settings.account_mail_account_rate_limit, "account-mail-user", str(user.id))


async def read_password_forgotten(
    request: Request, settings: SettingsDep, data: PasswordForgotten
) -> PasswordForgotten:
    """A forgotten password, once throttled per email address, whether an account has it or not."""
    limiter, _ = _client(request)
    await limiter.hit(settings.account_mail_account_rate_limit, "account-mail-email", data.email)
    return data


PasswordForgottenData = Annotated[PasswordForgotten, Depends(read_password_forgotten)]
