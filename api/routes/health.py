"""Liveness and readiness for operators and load balancers."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import Connection, text

from web.access import PUBLIC
from web.deps import connection, db_call
from web.services import LocatorDep, WarmUpDep

router = APIRouter(tags=["health"], dependencies=[Depends(PUBLIC)])


class Health(BaseModel):
    """The database answered: its versions and what is loaded."""

    status: Literal["ok"]
    postgis: str
    geos: str
    proj: str
    database: str
    units: int
    h3_resolution: int | None


class Ready(BaseModel):
    """Ready for traffic; whether hot-spot kernels are compiled and the locate index loaded yet."""

    status: Literal["ready"]
    analytics: Literal["ready", "warming"]
    locate_index: Literal["ready", "loading"]


def _health(conn: Connection) -> dict[str, object]:
    row = conn.execute(
        text("""
        SELECT postgis_lib_version() AS postgis, postgis_geos_version() AS geos,
               postgis_proj_version() AS proj, current_database() AS database,
               (SELECT count(*) FROM unit) AS units,
               (SELECT resolution FROM h3_coverage ORDER BY id DESC LIMIT 1) AS h3_resolution
    """)
    ).one()
    return {"status": "ok", **row._asdict()}


@router.get("/healthz", operation_id="health", response_model=Health)
async def health(request: Request) -> dict[str, object]:
    """Database reachable, PostGIS/GEOS/PROJ versions, and what is loaded."""
    return await db_call(request, _health)


@router.get("/healthz/ready", operation_id="ready", response_model=Ready)
async def ready(request: Request, warm_up: WarmUpDep, locator: LocatorDep) -> dict[str, str]:
    """The cheapest end-to-end check: one ``SELECT 1`` through the pool the hot paths use.

    ``analytics`` says whether esda's kernels are in numba's cache yet (``warming``: a process of its
    own is compiling them, busy on one core; a hot-spot request meanwhile compiles them itself);
    ``locate_index`` whether this process locates from memory yet (``loading``: through the database,
    as after every boundary change until the reload is in).
    """
    async with connection(request) as conn:
        await (await conn.execute("SELECT 1", prepare=True)).fetchone()
    return {
        "status": "ready",
        "analytics": "ready" if warm_up is not None and warm_up.done() else "warming",
        "locate_index": "ready" if locator.indexed else "loading",
    }
