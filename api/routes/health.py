"""Liveness and readiness for operators and load balancers."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import ConnDep

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health")
def health(conn: ConnDep) -> dict[str, object]:
    """Database reachable, PostGIS/GEOS/PROJ versions, and what is loaded."""
    row = conn.execute(text("""
        SELECT postgis_lib_version() AS postgis, postgis_geos_version() AS geos,
               postgis_proj_version() AS proj, current_database() AS database,
               (SELECT count(*) FROM unit) AS units,
               (SELECT resolution FROM h3_coverage ORDER BY id DESC LIMIT 1) AS h3_resolution
    """)).one()  # fmt: skip
    return {"status": "ok", **row._asdict()}


@router.get("/healthz/ready", operation_id="ready")
def ready(conn: ConnDep) -> dict[str, str]:
    """The cheapest end-to-end check: one ``SELECT 1`` through the pool."""
    conn.execute(text("SELECT 1")).scalar_one()
    return {"status": "ready"}
