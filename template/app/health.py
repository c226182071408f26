"""Liveness and readiness probes for load balancers and orchestrators."""

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from app.core.db import get_connection
from app.core.errors import AppError, problem_responses

router = APIRouter(prefix="/health", tags=["health"])


class Health(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    status: str = "ok"


class DatabaseUnavailableError(AppError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE


# Load balancers probe with HEAD too; it stays out of the API document, a twin of each GET.
@router.get("/live")
@router.head("/live", include_in_schema=False)
async def live() -> Health:
    """The process is up."""
    return Health()


@router.get("/ready", responses=problem_responses(503))
@router.head("/ready", include_in_schema=False)
async def ready(request: Request) -> Health:
    """The process can serve: the database answers."""
    try:
        connection = await get_connection(request)
        await connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise DatabaseUnavailableError("The database is unavailable.") from exc
    return Health()
