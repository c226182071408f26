"""Sign-up, sign-in, tokens, the caller's own account, and user administration."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response, status

from app.auth import service
from app.auth.deps import (
    AccessClaims,
    AdminUser,
    ClientAddress,
    CurrentAccount,
    CurrentUser,
    LoginForm,
    PasswordForgottenData,
    RefreshData,
    RegistrationData,
    SettingsDep,
    limit_account_mail,
    limit_my_account_mail,
    limit_reauthentication,
    limit_refresh,
    limit_register,
)
from app.auth.models import (
    EmailChange,
    PasswordChange,
    PasswordReset,
    ProfileUpdate,
    RefreshRequest,
    SessionPublic,
    SessionsEnd,
    TokenConfirmation,
    TokenPair,
    UserAdminUpdate,
    UserPage,
    UserPublic,
    UserQuery,
)
from app.core.db import ConnectionDep, SessionDep
from app.core.errors import problem_responses
from app.core.mail import MailerDep

auth_router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"])
# `GET /users/me` alone: clients call it far more often than the rest of /users, which app/api.py
# tries after the resources, so that each resource request passes over one route, not six.
me_router = APIRouter(prefix="/users", tags=["users"])
admin_router = APIRouter(prefix="/admin", tags=["admin"], responses=problem_responses(403))


@auth_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(limit_register)],
    responses=problem_responses(409, 429),
)
async def register(
    data: RegistrationData,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    tasks: BackgroundTasks,
) -> UserPublic:
    """Create an account; a link to verify its address is mailed to it."""
    user = await service.register(session=session, settings=settings, data=data)
    mail = await service.verification_mail(
        session=session, settings=settings, mailer=mailer, user=user
    )
    if mail is not None:
        tasks.add_task(mailer.send, mail)
    return UserPublic.model_validate(user)


@auth_router.post("/login", responses=problem_responses(401, 429))
async def login(form: LoginForm, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Sign in with email (as `username`) and password; get an access and a refresh token."""
    user = await service.authenticate(session=session, email=form.username, password=form.password)
    return await service.start_session(session=session, settings=settings, user=user)


@auth_router.post(
    "/refresh", dependencies=[Depends(limit_refresh)], responses=problem_responses(401, 429)
)
async def refresh(
    data: RefreshData, session: SessionDep, settings: SettingsDep, address: ClientAddress
) -> TokenPair:
    """Trade a refresh token for a new pair; the old refresh token is spent."""
    return await service.rotate_refresh_token(
        session=session,
        settings=settings,
        refresh_token=data.refresh_token,
        client_address=address,
    )


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    user: CurrentAccount, session: SessionDep, settings: SettingsDep, data: RefreshRequest
) -> None:
    """End the session of this refresh token."""
    await service.logout(
        session=session, settings=settings, user=user, refresh_token=data.refresh_token
    )


@auth_router.post(
    "/password/forgot",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,  # no body
    dependencies=[Depends(limit_account_mail)],
    responses=problem_responses(429),
)
async def forgot_password(
    request: Request,
    settings: SettingsDep,
    mailer: MailerDep,
    tasks: BackgroundTasks,
    data: PasswordForgottenData,
) -> None:
    """Mail a reset link if an active account has this email. The answer is the same, and as
    quick, either way: the account is looked up after it."""
    tasks.add_task(
        service.request_password_reset,
        sessionmaker=request.app.state.sessionmaker,
        settings=settings,
        mailer=mailer,
        email=data.email,
    )


@auth_router.post(
    "/password/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(limit_account_mail)],
    responses=problem_responses(400, 429),
)
async def reset_password(
    session: SessionDep, settings: SettingsDep, address: ClientAddress, data: PasswordReset
) -> None:
    """Set a new password with a mailed reset link's token; every session of the account ends."""
    await service.reset_password(
        session=session, settings=settings, data=data, client_address=address
    )


@auth_router.post(
    "/email/verify",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(limit_account_mail)],
    responses=problem_responses(400, 429),
)
async def verify_email(session: SessionDep, data: TokenConfirmation) -> None:
    """Verify your address with the token of the link mailed to it."""
    await service.verify_email(session=session, token=data.token)


@auth_router.post(
    "/email/verify/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,  # no body
    dependencies=[Depends(limit_account_mail), Depends(limit_my_account_mail)],
    responses=problem_responses(401, 429),
)
async def resend_verification(
    user: CurrentAccount,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    tasks: BackgroundTasks,
) -> None:
    """Mail a new verification link (the older one stops working); nothing once verified."""
    mail = await service.verification_mail(
        session=session, settings=settings, mailer=mailer, user=user
    )
    if mail is not None:
        tasks.add_task(mailer.send, mail)


@auth_router.post(
    "/email/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(limit_account_mail)],
    responses=problem_responses(400, 409, 429),
)
async def confirm_email_change(
    session: SessionDep,
    mailer: MailerDep,
    tasks: BackgroundTasks,
    address: ClientAddress,
    data: TokenConfirmation,
) -> None:
    """Move your account to the new address, with the token mailed there; the old address is
    told."""
    notice = await service.confirm_email_change(
        session=session, mailer=mailer, token=data.token, client_address=address
    )
    tasks.add_task(mailer.send, notice)


@me_router.get("/me")
async def read_me(user: CurrentUser) -> UserPublic:
    """Your profile."""
    return UserPublic.model_validate(user)


@users_router.patch("/me")
async def update_me(user: CurrentAccount, session: SessionDep, data: ProfileUpdate) -> UserPublic:
    """Change your name; `POST /users/me/email` changes your email."""
    updated = await service.update_profile(session=session, user=user, data=data)
    return UserPublic.model_validate(updated)


@users_router.post(
    "/me/email",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,  # no body
    dependencies=[
        Depends(limit_reauthentication),
        Depends(limit_account_mail),
        Depends(limit_my_account_mail),
    ],
    responses=problem_responses(400, 429),
)
async def change_my_email(
    user: CurrentAccount,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    tasks: BackgroundTasks,
    data: EmailChange,
) -> None:
    """Ask to move your account to a new address, with your password. A link mailed there
    confirms it; until then nothing changes. The answer never says if the address is in use."""
    mail = await service.email_change_mail(
        session=session, settings=settings, mailer=mailer, user=user, data=data
    )
    if mail is not None:
        tasks.add_task(mailer.send, mail)


@users_router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(limit_reauthentication)],
    responses=problem_responses(400, 429),
)
async def change_password(
    user: CurrentAccount,
    session: SessionDep,
    settings: SettingsDep,
    claims: AccessClaims,
    address: ClientAddress,
    data: PasswordChange,
) -> None:
    """Change your password; every other session ends."""
    await service.change_password(
        session=session,
        settings=settings,
        user=user,
        current_session_id=claims.sid,
        data=data,
        client_address=address,
    )


@users_router.get("/me/sessions")
async def list_my_sessions(
    user: CurrentAccount, session: SessionDep, claims: AccessClaims
) -> list[SessionPublic]:
    """Your live sign-in sessions, newest first (at most 100)."""
    return await service.list_sessions(session=session, user=user, current_session_id=claims.sid)


@users_router.post(
    "/me/sessions/end",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(limit_reauthentication)],
    responses=problem_responses(400, 429),
)
async def end_my_sessions(
    user: CurrentAccount, session: SessionDep, address: ClientAddress, data: SessionsEnd
) -> None:
    """End some of your sessions, this one included if listed; confirm with your password."""
    await service.end_sessions(session=session, user=user, data=data, client_address=address)


@admin_router.get("/users")
async def list_users(
    _admin: AdminUser,
    connection: ConnectionDep,
    query: Annotated[UserQuery, Depends(UserQuery.from_request)],
) -> UserPage:
    """List all users (admins only)."""
    return await service.list_users(connection=connection, query=query)


@admin_router.patch("/users/{user_id}", responses=problem_responses(404, 409))
async def update_user(
    admin: AdminUser,
    session: SessionDep,
    address: ClientAddress,
    user_id: UUID,
    data: UserAdminUpdate,
) -> UserPublic:
    """Change a user's role or active flag (admins only)."""
    user = await service.update_user(
        session=session, actor=admin, user_id=user_id, data=data, client_address=address
    )
    return UserPublic.model_validate(user)
