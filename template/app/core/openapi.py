"""The OpenAPI document as clients are generated from it: readable names, exact numbers."""

from collections import Counter
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

INT64_MAX = 2**63 - 1
# Pydantic's constraint names, which some schemas keep as they are: a decimal written as a string
# (its pattern states the digits; its bounds are written as `x-minimum` and the like), and an
# optional integer with a validator of its own (its bounds get their JSON Schema names).
DECIMAL_DIGITS = ("max_digits", "decimal_places")
BOUNDS = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusiveMinimum",
    "lt": "exclusiveMaximum",
}


def operation_id(route: APIRoute) -> str:
    """A route's operation id is its function's name, as in `list_todos` or `login`."""
    return route.name


def _exact(node: Any) -> None:
    """Write the bounds of integers as integers, and those of decimals as the strings they are.

    FastAPI's OpenAPI model holds `minimum` and `maximum` as floats: 2**63 - 1 would come out
    as 9.223372036854776e+18, which is 2**63 and out of range. A float that great on an integer
    is the 64-bit limit. Bounds of up to 15 digits are exact as floats; a resource's bound of 16
    to 18 digits comes out rounded to the nearest float.
    """
    if isinstance(node, list):
        for item in node:
            _exact(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "integer":
        for key, name in BOUNDS.items():
            if key in node:
                node[name] = node.pop(key)
        for key in BOUNDS.values():
            if isinstance(node.get(key), float):
                node[key] = min(max(int(node[key]), -INT64_MAX - 1), INT64_MAX)
    if node.get("format") == "decimal":
        for key in DECIMAL_DIGITS:
            node.pop(key, None)
        for key, name in BOUNDS.items():
            if key in node:
                node[f"x-{name}"] = str(node.pop(key))
    for value in node.values():
        _exact(value)


def _refuse_duplicate_ids(schema: dict[str, Any]) -> None:
    ids = Counter(
        operation["operationId"]
        for path in schema.get("paths", {}).values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    )
    if repeated := sorted(name for name, count in ids.items() if count > 1):
        message = f"Route functions share the names {', '.join(repeated)}: rename them."
        raise RuntimeError(message)


def install_openapi(app: FastAPI) -> None:
    """Check and finish the document that FastAPI and the error handlers build."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build_openapi()
            app.openapi_schema = None  # until the checks pass
            _refuse_duplicate_ids(schema)
            _exact(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
