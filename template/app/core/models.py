"""What every table shares: stable constraint names, UUID keys and UTC timestamps."""

from datetime import UTC, datetime

from sqlmodel import SQLModel

# Stable constraint names on every database, so Alembic revisions stay identical across them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Response models: a field with a default is in every answer all the same, so the OpenAPI
# document marks it required and a generated client reads it without a None check.
RESPONSE = SQLModel.model_config | {"json_schema_serialization_defaults_required": True}

# Request bodies refuse fields they do not declare (no mass assignment) instead of ignoring them.
FORBID_EXTRA = SQLModel.model_config | {"extra": "forbid"}


def utcnow() -> datetime:
    return datetime.now(UTC)
