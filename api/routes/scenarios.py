"""Application scenarios and the monthly publications over HTTP (regulation art. 13).

``GET /api/v1/scenarios`` lists the registry (public: it is what the public page shows); city command
(``scenarios:manage``) adds one with ``POST`` and rewrites one with ``PUT …/{code}`` at the version it
read (409 when someone changed it since). ``GET /api/v1/publications`` lists the published months and
``GET /api/v1/publications/{month}`` answers one month's signed manifest, its signature and the public
key that checks it — what the city's data exchange platform needs to fetch and verify the files.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from api.geojson import FastJSONResponse
from command.users import User
from exchange import publications, scenarios
from exchange.public_figures import Month
from exchange.scenarios import ScenarioIn
from spatial.errors import InvalidInputError
from web.access import PUBLIC_VIEW, Access
from web.deps import scoped_connection

router = APIRouter(prefix="/api/v1", tags=["scenarios and publications"])
Manager = Annotated[User, Depends(Access("scenarios:manage"))]
Code = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$", examples=["flood-watch"])]
MonthText = Annotated[str, Path(pattern=r"^\d{4}-\d{2}$", examples=["2026-11"])]


class Scenario(ScenarioIn):
    """A scenario as stored: the draft's fields, its owner's name, its version and last change."""

    owner_unit_name: str
    version: int
    updated_at: str
    updated_by: str


class ScenarioChange(ScenarioIn):
    """A rewrite of a scenario, at the version the writer read."""

    version: int = Field(ge=1)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A registry row as JSON: no internal id, the time as ISO 8601."""
    return {k: (v.isoformat() if k == "updated_at" else v) for k, v in row.items() if k != "id"}


@router.get(
    "/scenarios", response_class=FastJSONResponse, response_model=list[Scenario], dependencies=[Depends(PUBLIC_VIEW)]
)
async def list_scenarios(request: Request) -> FastJSONResponse:
    """Every application scenario: field, status, owner, what feeds it."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse([_public(row) for row in await scenarios.listed(conn)])


@router.post("/scenarios", response_class=FastJSONResponse, response_model=Scenario, status_code=201)
async def add_scenario(request: Request, user: Manager, draft: ScenarioIn) -> FastJSONResponse:
    """Register a scenario (409 when the code is taken). Categories must exist; empty lists mean all."""
    async with scoped_connection(request) as conn, conn.transaction():
        return FastJSONResponse(_public(await scenarios.add(conn, draft, user.username)), status_code=201)


@router.put("/scenarios/{code}", response_class=FastJSONResponse, response_model=Scenario)
async def change_scenario(request: Request, user: Manager, code: Code, change: ScenarioChange) -> FastJSONResponse:
    """Rewrite a scenario at the version read; 409 when someone changed it since (reload and redo)."""
    if change.code != code:
        raise InvalidInputError(f"the body's code {change.code} is not the path's {code}; a code never changes")
    draft = ScenarioIn.model_validate(change.model_dump(exclude={"version"}))
    async with scoped_connection(request) as conn, conn.transaction():
        return FastJSONResponse(_public(await scenarios.change(conn, draft, change.version, user.username)))


class PublicationOut(BaseModel):
    """A month as published: its manifest, the Ed25519 signature of the manifest's exact bytes, the key."""

    month: str
    published_at: str
    manifest: dict[str, Any]
    manifest_base64: str = Field(
        description="The signed bytes: verify the signature over these, not a re-serialisation"
    )
    signature_base64: str
    public_key_pem: str


@router.get(
    "/publications", response_class=FastJSONResponse, response_model=list[str], dependencies=[Depends(PUBLIC_VIEW)]
)
async def list_publications(request: Request) -> FastJSONResponse:
    """The published months, newest first."""
    async with scoped_connection(request) as conn:
        return FastJSONResponse(await publications.published_months(conn))


@router.get(
    "/publications/{month}",
    response_class=FastJSONResponse,
    response_model=PublicationOut,
    dependencies=[Depends(PUBLIC_VIEW)],
)
async def one_publication(request: Request, month: MonthText) -> FastJSONResponse:
    """One published month's signed manifest (files at ``/public/{month}/{name}``)."""
    async with scoped_connection(request) as conn:
        held = await publications.publication(conn, Month.parse(month))
    return FastJSONResponse(
        {
            "month": held.month,
            "published_at": held.published_at.isoformat(),
            "manifest": orjson.loads(held.manifest),
            "manifest_base64": base64.b64encode(held.manifest).decode(),
            "signature_base64": base64.b64encode(held.signature).decode(),
            "public_key_pem": held.public_key_pem,
        },
        headers={"Cache-Control": "public, max-age=86400"},
    )
