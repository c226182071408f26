"""The OpenAPI document as clients are generated from it: readable names, exact numbers."""

from collections import Counter
from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from app.core.pagination import ListQuery

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


def _query_models(app: FastAPI) -> dict[str, type[ListQuery]]:
    """The query each list operation reads with `ListQuery.from_request`, by operation id."""
    models: dict[str, type[ListQuery]] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            for dependency in route.dependant.dependencies:
                model = getattr(dependency.call, "__self__", None)
                if isinstance(model, type) and issubclass(model, ListQuery):
                    models[operation_id(route)] = model
    return models


def _documented_query(app: FastAPI, model: type[ListQuery]) -> dict[str, Any]:
    """FastAPI's document of a route that would take `model` as `Query()`."""

    async def probe(query: BaseModel) -> None:
        """Never called: a route to document."""

    # Set here: a type held in a variable is no annotation to mypy.
    probe.__annotations__["query"] = Annotated[model, Query()]
    route = APIRoute("/", probe, methods=["GET"])
    separate_schemas = app.separate_input_output_schemas
    return get_openapi(
        title="", version="", routes=[route], separate_input_output_schemas=separate_schemas
    )


def _document_queries(app: FastAPI, schema: dict[str, Any]) -> None:
    """Document the parameters of the lists that parse their query themselves, as FastAPI
    documents them for `Query()`: after the path's, with their schemas and the 422."""
    operations = {
        operation["operationId"]: operation
        for path in schema["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, model in _query_models(app).items():
        documented = _documented_query(app, model)
        probe = documented["paths"]["/"]["get"]
        operation = operations[name]
        if "parameters" not in operation:
            # Where FastAPI writes them: before the body and the responses.
            later = [key for key in operation if key in ("requestBody", "responses")]
            operation.update({"parameters": [], **{key: operation.pop(key) for key in later}})
        parameters = operation["parameters"]
        after_path = sum(parameter["in"] == "path" for parameter in parameters)
        parameters[after_path:after_path] = probe["parameters"]
        operation["responses"].setdefault("422", probe["responses"]["422"])
        for key, value in documented.get("components", {}).get("schemas", {}).items():
            schemas.setdefault(key, value)
    schema["components"]["schemas"] = dict(sorted(schemas.items()))


def install_openapi(app: FastAPI) -> None:
    """Finish and check the document that FastAPI builds; install it before the error handlers,
    which document the problems of what it adds."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build_openapi()
            app.openapi_schema = None  # until the checks pass
            _refuse_duplicate_ids(schema)
            _document_queries(app, schema)
            _exact(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
