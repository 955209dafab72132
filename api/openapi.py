"""The OpenAPI document: what FastAPI derives from the routes, plus the refusals each route can give.

Every error is one shape (``api.schemas.Refusal``, rendered by ``web.errors``), so the statuses are
added here, once, from what each route is: guarded (401, 403), looking up a path id (404), taking
input (422), writing (409, 413 …), reading the database (503), throttled (429). FastAPI's own
``HTTPValidationError`` (an array ``detail``) is not what the API answers and is replaced by Refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.schemas import Feature, FeatureCollection, Refusal
from web.access import Access

REFUSAL = {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}
WHY = {
    "400": "A query parameter this resource does not take, or a malformed one",
    "401": "No valid credentials: log in (Bearer token, session cookie) or send an X-API-Key",
    "403": "The caller's roles do not grant this, or the record is outside their jurisdiction",
    "404": "Nothing with this id (or not in the caller's jurisdiction)",
    "408": "The request body stalled while being sent",
    "409": "The record's state does not allow this now, or a concurrent change won: look again and retry",
    "411": "An upload without Content-Length",
    "413": "The request body is over this endpoint's size limit",
    "415": "A body in a format this endpoint does not take",
    "422": "A value to fix: each refused field is named in errors",
    "429": "Too many requests: wait Retry-After seconds",
    "500": "An internal error: nothing was changed; the request id names it in the logs",
    "503": "The database is unavailable for a moment: retry after Retry-After seconds",
}
NOT_DATABASE_BACKED = ("basemap",)  # tags whose routes read files only: they never wait for the database
THROTTLED = frozenset({"submitReport", "auth-login", "auth-start_session", "open311-create_request", "stream-stream"})
# multipart: Content-Length required, formats checked
UPLOADS = frozenset({"submitReport", "cases-upload_case_media", "incidents-post_photos"})
# a raw body read by the route itself (readings as SenML/JSON, a CAP alert as XML): its media type checked there
RAW_BODIES = frozenset({"sensing-observations", "warnings-inbound"})
# logging in and renewing: wrong credentials are a 401, a browser session's write without its header a 403
AUTHENTICATING = ("auth", "peer messages")  # and a peer city's message whose signature does not hold
BAD_QUERY_TAGS = ("ogc",)  # OGC API resources refuse unknown query parameters with 400 (its standard's choice)


def _dependencies(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _dependencies(sub)


def api_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path as the document names it (included routers are wrappers)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path_format, route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes, prefix + route.include_context.prefix)


def refusals(route: APIRoute, method: str, operation: dict[str, Any]) -> list[str]:
    """The statuses ``route`` may refuse with, besides FastAPI's own success answers."""
    statuses, tags, operation_id = ["500"], set(operation.get("tags", ())), operation.get("operationId")
    if any(isinstance(call, Access) for call in _dependencies(route.dependant)):
        statuses += ["401", "403"]
    takes_input = bool(operation.get("parameters") or operation.get("requestBody") or route.dependant.path_params)
    database_backed = not tags & set(NOT_DATABASE_BACKED)
    if tags & set(AUTHENTICATING):
        statuses += ["401", "403"]
    if route.dependant.path_params or (takes_input and database_backed):  # an id, a unit code, a token looked up
        statuses.append("404")
    if takes_input:
        statuses.append("422")
    if operation.get("requestBody"):
        statuses.append("400")  # a body that cannot be parsed as its Content-Type says (not UTF-8, a broken form)
    if method in ("post", "put", "patch"):
        statuses += ["408", "409", "413", "422"]
    if operation_id in UPLOADS:
        statuses += ["411", "415"]
    if operation_id in RAW_BODIES:
        statuses += ["400", "415"]
    if operation_id in THROTTLED:
        statuses.append("429")
    if database_backed:
        statuses.append("503")
    if tags & set(BAD_QUERY_TAGS):
        statuses.append("400")
    return sorted(set(statuses))


def _document_refusals(app: FastAPI, schema: dict[str, Any]) -> None:
    routes = {(path, method.lower()): route for path, route in api_routes(app.routes) for method in route.methods or ()}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            route = routes.get((path, method))
            if route is None:
                continue
            responses = operation.setdefault("responses", {})
            validation = str(getattr(route, "validation_status", 422))
            if validation != "422":  # the route turns request validation into its own refusal (Open311)
                responses.pop("422", None)
            # refusals the route documents in its own format (Open311's); a description alone is only its words
            own = {str(status) for status, said in route.responses.items() if "content" in said or "model" in said}
            for status in refusals(route, method, operation):
                if status in own or (status == "422" and validation != "422"):
                    continue
                said = (route.responses.get(int(status)) or {}).get("description") or WHY[status]
                answer: dict[str, Any] = {"description": said, "content": REFUSAL}
                if status in ("429", "503"):
                    answer["headers"] = RETRY_AFTER
                responses[status] = answer


def describe(app: FastAPI, models: tuple[type[BaseModel], ...]) -> None:
    """Serve FastAPI's document with the refusals, and publish ``models`` that endpoints read by hand
    (multipart or JSON bodies) or that answers reference (GeoJSON) in its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            published: tuple[type[BaseModel], ...] = (*models, Refusal, Feature, FeatureCollection)
            for model in published:
                full = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(full.pop("$defs", {}))
                components[model.__name__] = full
            for fastapi_own in ("HTTPValidationError", "ValidationError"):
                components.pop(fastapi_own, None)
            _document_refusals(app, schema)
            app.openapi_schema = schema  # FastAPI.openapi kept it there already: said again for the type checker
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend its document
