"""The OpenAPI document says exactly what the API does, so that generated clients can rely on it."""

from collections.abc import Iterator
from typing import Any, get_args, get_type_hints

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.core.openapi import operation_id
from app.core.pagination import ListQuery


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200, r.text
    schema: dict[str, Any] = r.json()
    return schema


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def schemas_in(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema object in `node`, nested ones included."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from schemas_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from schemas_in(item)


def components(document: dict[str, Any], node: Any) -> list[tuple[str, dict[str, Any]]]:
    """The named schemas that `node` refers to."""
    names = [schema["$ref"].rsplit("/", 1)[-1] for schema in schemas_in(node) if "$ref" in schema]
    return [(name, document["components"]["schemas"][name]) for name in names]


def test_operation_ids_are_the_route_functions_names(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    auth = {"register", "login", "refresh", "logout", "read_me", "update_me", "list_users"}

    assert len(ids) == len(set(ids)), "operation ids repeat"
    assert auth <= set(ids)
    for method, path, operation in operations(document):
        assert operation["operationId"].isidentifier(), operation["operationId"]
        assert "api_v1" not in operation["operationId"], (method, path)


def test_each_list_documents_its_query(app: FastAPI, document: dict[str, Any]) -> None:
    """Lists read their query string themselves (`ListQuery.from_request`), out of FastAPI's
    sight: each still documents every field of its query, optional, and the 422 of a bad one."""
    queries = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            hints = get_type_hints(route.endpoint, include_extras=True)
            if "query" in hints and issubclass(model := get_args(hints["query"])[0], ListQuery):
                queries[operation_id(route)] = model
    listed = {operation["operationId"]: operation for _, _, operation in operations(document)}

    assert {"list_users", "list_audit_events"} < set(queries)
    for name, model in queries.items():
        parameters = [p for p in listed[name]["parameters"] if p["in"] == "query"]
        assert [p["name"] for p in parameters] == list(model.model_fields), name
        assert not any(p["required"] for p in parameters), name
        assert "422" in listed[name]["responses"], name


def test_every_field_of_an_answer_is_required(document: dict[str, Any]) -> None:
    """A field with a default is in every answer all the same. Only the rows that `expand`
    embeds are sometimes left out."""
    seen: set[str] = set()
    pending = [
        named
        for _, _, operation in operations(document)
        for response in operation["responses"].values()
        for named in components(document, response.get("content", {}))
    ]
    while pending:
        name, schema = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        properties = set(schema.get("properties", {}))
        if name.endswith("Expanded"):
            public = document["components"]["schemas"][name.removesuffix("Expanded") + "Public"]
            properties &= set(public["properties"])
        # A problem's `detail` is there when there is more to say than its title.
        missing = properties - set(schema.get("required", [])) - {"detail"}
        assert not missing, f"{name}: {sorted(missing)}"
        pending += components(document, schema.get("properties", {}))
    assert {"TokenPair", "Problem", "UserPublic"} <= seen


def test_numbers_of_integers_are_integers(document: dict[str, Any]) -> None:
    integers = [schema for schema in schemas_in(document) if schema.get("type") == "integer"]
    bounds = [schema[key] for schema in integers for key in ("minimum", "maximum") if key in schema]

    assert bounds, "no integer has bounds"
    assert all(isinstance(bound, int) for bound in bounds), bounds
    assert max(bounds) <= 2**63 - 1
    assert min(bounds) >= -(2**63)


def test_every_bound_has_its_json_schema_name(document: dict[str, Any]) -> None:
    """Pydantic's own names (`le`, `max_length`) are no bound to a client or a generator."""
    pydantic_names = {"ge", "gt", "le", "lt", "min_length", "max_length"}
    typed = [schema for schema in schemas_in(document) if isinstance(schema.get("type"), str)]
    stray = [schema for schema in typed if pydantic_names & schema.keys()]

    assert stray == []


def test_each_sort_value_has_an_enum_name(document: dict[str, Any]) -> None:
    sorts = [
        parameter["schema"]
        for _, _, operation in operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["name"] == "sort"
    ]

    assert sorts
    for schema in sorts:
        names = schema["x-enum-varnames"]
        assert len(names) == len(set(names)) == len(schema["enum"])
        for value, name in zip(schema["enum"], names, strict=True):
            expected = value.removeprefix("-").upper() + ("_DESC" if value[0] == "-" else "")
            assert name == expected


def test_decimals_and_urls_state_their_format(document: dict[str, Any]) -> None:
    for schema in schemas_in(document):
        if schema.get("format") == "decimal":
            assert schema["type"] == "string"
            assert schema["pattern"] == r"^-?[0-9]{1,16}(\.[0-9]{1,2})?$"
        if schema.get("format") == "uri":
            assert schema["type"] == "string"
