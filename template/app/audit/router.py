"""The audit log, read by admins."""

from typing import Annotated

from fastapi import APIRouter, Depends

from app.audit import service
from app.audit.models import AuditEventPage, AuditQuery
from app.auth.deps import AdminUser
from app.core.db import ConnectionDep
from app.core.errors import problem_responses

router = APIRouter(prefix="/admin/audit", tags=["admin"], responses=problem_responses(403))


@router.get("")
async def list_audit_events(
    _admin: AdminUser,
    connection: ConnectionDep,
    query: Annotated[AuditQuery, Depends(AuditQuery.from_request)],
) -> AuditEventPage:
    """Read the audit log, newest first (admins only)."""
    return await service.list_events(connection=connection, query=query)
