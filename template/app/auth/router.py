"""Sign-up, sign-in, tokens, the caller's own account, and user administration."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, status

from app.auth import service
from app.auth.deps import (
    AccessClaims,
    AdminUser,
    CurrentUser,
    LoginForm,
    ProfileUpdateData,
    RefreshData,
    RegistrationData,
    SettingsDep,
    limit_reauthentication,
    limit_refresh,
    limit_register,
)
from app.auth.models import (
    PasswordChange,
    RefreshRequest,
    SessionPublic,
    SessionsEnd,
    TokenPair,
    UserAdminUpdate,
    UserPage,
    UserPublic,
    UserQuery,
)
from app.core.db import SessionDep
from app.core.errors import problem_responses

auth_router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"])
admin_router = APIRouter(prefix="/admin", tags=["admin"], responses=problem_responses(403))


@auth_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(limit_register)],
    responses=problem_responses(409, 429),
)
async def register(
    session: SessionDep, settings: SettingsDep, data: RegistrationData
) -> UserPublic:
    """Create an account."""
    user = await service.register(session=session, settings=settings, data=data)
    return UserPublic.model_validate(user)


@auth_router.post("/login", responses=problem_responses(401, 429))
async def login(session: SessionDep, settings: SettingsDep, form: LoginForm) -> TokenPair:
    """Sign in with email (as `username`) and password; get an access and a refresh token."""
    user = await service.authenticate(session=session, email=form.username, password=form.password)
    return await service.start_session(session=session, settings=settings, user=user)


@auth_router.post(
    "/refresh", dependencies=[Depends(limit_refresh)], responses=problem_responses(401, 429)
)
async def refresh(session: SessionDep, settings: SettingsDep, data: RefreshData) -> TokenPair:
    """Trade a refresh token for a new pair; the old refresh token is spent."""
    return await service.rotate_refresh_token(
        session=session, settings=settings, refresh_token=data.refresh_token
    )


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, data: RefreshRequest
) -> None:
    """End the session of this refresh token."""
    await service.logout(
        session=session, settings=settings, user=user, refresh_token=data.refresh_token
    )


@users_router.get("/me")
async def read_me(user: CurrentUser) -> UserPublic:
    """Your profile."""
    return UserPublic.model_validate(user)


@users_router.patch("/me", responses=problem_responses(409, 429))
async def update_me(session: SessionDep, user: CurrentUser, data: ProfileUpdateData) -> UserPublic:
    """Change your email or name."""
    updated = await service.update_profile(session=session, user=user, data=data)
    return UserPublic.model_validate(updated)


@users_router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(limit_reauthentication)],
    responses=problem_responses(400, 429),
)
async def change_password(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    claims: AccessClaims,
    data: PasswordChange,
) -> None:
    """Change your password; every other session ends."""
    await service.change_password(
        session=session, settings=settings, user=user, current_session_id=claims.sid, data=data
    )


@users_router.get("/me/sessions")
async def list_my_sessions(
    session: SessionDep, user: CurrentUser, claims: AccessClaims
) -> list[SessionPublic]:
    """Your live sign-in sessions, newest first (at most 100)."""
    return await service.list_sessions(session=session, user=user, current_session_id=claims.sid)


@users_router.post(
    "/me/sessions/end",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(limit_reauthentication)],
    responses=problem_responses(400, 429),
)
async def end_my_sessions(session: SessionDep, user: CurrentUser, data: SessionsEnd) -> None:
    """End some of your sessions, this one included if listed; confirm with your password."""
    await service.end_sessions(session=session, user=user, data=data)


@admin_router.get("/users")
async def list_users(
    session: SessionDep, _admin: AdminUser, query: Annotated[UserQuery, Query()]
) -> UserPage:
    """List all users (admins only)."""
    page = await service.list_users(session=session, query=query)
    return UserPage.model_validate(page, from_attributes=True)


@admin_router.patch("/users/{user_id}", responses=problem_responses(404, 409))
async def update_user(
    session: SessionDep, admin: AdminUser, user_id: UUID, data: UserAdminUpdate
) -> UserPublic:
    """Change a user's role or active flag (admins only)."""
    user = await service.update_user(session=session, actor=admin, user_id=user_id, data=data)
    return UserPublic.model_validate(user)
