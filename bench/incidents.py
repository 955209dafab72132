"""`cityops bench incidents`: the command board of a large incident, and its impact query.

Why: in a city-wide flood the board is what the commander looks at first and again and again; it
must be ready at once with a district's worth of cases and forces under the incident. What is
compared, in one run:

- board ready: the board's requests — ``GET /api/v1/incidents/{id}``, ``…/impact``, ``…/cases``,
  ``…/timeline`` and ``…/resources`` — one after the other through the platform (median of the sum
  of their latencies over the rounds), against the 2 s target, and against the same SQL through a
  minimal FastAPI app (``bench.bare_app``: same driver, pool and scope, no middleware), so what the
  platform's request path adds shows;
- the impact query (``incidents.queries.impact.IMPACT``: one round trip over the subdivided areas)
  in the database, against the 300 ms target, and against the same counts computed by plain
  ``ST_Intersects`` queries with the union of the areas (``PLAIN``); the counts must be equal.

Data: in a database of its own (the demo hierarchy), an incident over ``km2`` km² (a round
perimeter in 玄武区, level II, commanded by the city) with ``cases`` open cases inside it (the
historic-import path) all linked to it, ``forces`` forces inside it (the directory's loader, fresh
positions), and one resource request of each kind of answer so the summary has rows. Each run opens
its own incident and closes it at the end; cases and forces are topped up, not remade.
"""

from __future__ import annotations

import csv
import math
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import shapely
from fastapi import FastAPI, Response
from rich.console import Console
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from bench.bare_app import BareApp, json_response
from bench.forces import CAPS_BY_KIND
from bench.harness import Row, bench_caller, print_table, random_points_inside, served
from bench.intake import write_history
from bench.machine import describe
from command.historic_import import import_events
from forces.demo import COLUMNS
from forces.directory import load_directory
from incidents.areas import current_areas
from incidents.impact import impact
from incidents.lifecycle import read_incident
from incidents.queries.impact import IMPACT, PLAIN, UNION_OF_AREAS
from incidents.queries.lifecycle import CASES
from incidents.resources import incident_resources
from incidents.timeline import entries
from spatial.db import libpq_url, make_engine
from spatial.settings import StoreSettings

PREFIX = "bench-incident"
DISTRICT = "320102"  # 玄武区: the perimeter is round its point on surface
USER_ENV = "CITYOPS_BENCH_INCIDENT_USER"
BOARD_TARGET_MS = 2000.0
IMPACT_TARGET_MS = 300.0
CASE_PAGE = 2000  # the board's cases request lists at most this many (api.routes.incidents.MAX_CASE_LIST)
PARTS = ("", "/impact", "/cases", "/timeline", "/resources")


# ---- data -----------------------------------------------------------------------------------------
def perimeter(engine: Engine, km2: float) -> tuple[float, float, float, BaseGeometry]:
    """The round perimeter: (lon, lat) of its centre, its radius in metres and its shape (clipped to nothing:
    玄武区's point on surface is far enough inside the city for the sizes measured)."""
    radius = math.sqrt(km2 * 1e6 / math.pi)
    with engine.connect() as conn:
        lon, lat, wkb = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p), ST_AsBinary(ST_Buffer(p::geography, :r, 32)::geometry) "
                "FROM (SELECT ST_PointOnSurface(geom) p FROM unit WHERE code = :c) s"
            ),
            {"r": radius, "c": DISTRICT},
        ).one()
    shape: BaseGeometry = shapely.from_wkb(bytes(wkb))
    return float(lon), float(lat), radius, shape


def ensure_cases(engine: Engine, area: BaseGeometry, count: int, console: Console) -> list[int]:
    """Open cases of this benchmark inside ``area``, topped up to ``count`` (historic import); their ids."""
    mine = {"prefix": f"{PREFIX}-%"}
    query = text(
        "SELECT id FROM case_file WHERE external_id LIKE :prefix AND state NOT IN ('closed', 'void') ORDER BY id"
    )
    with engine.connect() as conn:
        have = len(conn.execute(query, mine).all())
    if have < count:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / f"{PREFIX}-{uuid.uuid4().hex[:8]}.csv"
            write_history(engine, path, count - have, seed=71, state="reported", days=30, area=area)
            loaded = import_events(engine, path)
        console.print(f"imported {loaded.loaded:,} open cases inside the perimeter ({loaded.seconds:.1f} s)")
    with engine.connect() as conn:
        return [int(r[0]) for r in conn.execute(query, mine)][:count]


def ensure_forces(engine: Engine, area: BaseGeometry, count: int, console: Console) -> int:
    """Forces of this benchmark inside ``area`` topped up to ``count`` (the directory's loader), all on duty
    with a fresh position; returns how many there are."""
    mine = {"prefix": f"{PREFIX}-%"}
    with engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM force WHERE code LIKE :prefix"), mine).scalar_one()
    if have < count:
        missing = count - have
        lon, lat = random_points_inside(area, missing, seed=73 + have)
        kinds = np.random.default_rng(have).choice(list(CAPS_BY_KIND), missing)
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "incident-forces.csv"
            with path.open("w", newline="", encoding="utf-8") as out:
                writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="")
                writer.writeheader()
                for i, kind in enumerate(kinds):
                    caps = CAPS_BY_KIND[str(kind)]
                    writer.writerow(
                        {
                            "code": f"{PREFIX}-{uuid.uuid4().hex[:10]}",
                            "name": f"bench incident {kind} {have + i}",
                            "kind": kind,
                            "unit": DISTRICT,
                            "capabilities": caps[i % len(caps)],
                            "lon": f"{lon[i]:.6f}",
                            "lat": f"{lat[i]:.6f}",
                        }
                    )
            load_directory(engine, path, actor="bench", synthetic=True)
        console.print(f"added {missing:,} forces inside the perimeter")
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE force_position p SET fixed_at = now() - interval '1 minute' FROM force f "
                "WHERE f.id = p.force_id AND f.code LIKE :prefix"
            ),
            mine,
        )
        conn.execute(text("ANALYZE force, force_position, case_file, incident_case"))
        return int(conn.execute(text("SELECT count(*) FROM force WHERE code LIKE :prefix"), mine).scalar_one())


def open_board(http: httpx.Client, lon: float, lat: float, radius: float, case_ids: list[int]) -> dict[str, Any]:
    """The incident through the API, as a commander makes it: opened, cases linked, resources asked."""
    body = {
        "title": f"{PREFIX} 特大暴雨内涝 {uuid.uuid4().hex[:6]}",
        "class_code": "natural_disaster.rainstorm_flood",
        "level": "II",
        "lon": lon,
        "lat": lat,
        "areas": [{"kind": "perimeter", "buffer_m": round(radius, 1), "lon": lon, "lat": lat}],
    }
    incident = _ok(http.post("/api/v1/incidents", json=body))
    for start in range(0, len(case_ids), 10_000):
        _ok(http.post(f"/api/v1/incidents/{incident['id']}/cases", json={"case_ids": case_ids[start : start + 10_000]}))
    needed_by = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 7200))
    for kind, unit, quantity in (("pump", "320104", 6), ("rescue_team", "320105", 2), ("sandbags", "320106", 5000)):
        ask = {"resource_type": kind, "quantity": quantity, "to_unit": unit, "needed_by": needed_by}
        _ok(http.post(f"/api/v1/incidents/{incident['id']}/resources", json={**ask, "lon": lon, "lat": lat}))
    return incident


def _ok(answer: httpx.Response) -> dict[str, Any]:
    if answer.status_code >= 400:
        raise RuntimeError(f"{answer.request.method} {answer.request.url.path}: {answer.status_code} {answer.text}")
    return dict(answer.json())


# ---- the minimal app: the board's SQL, nothing else -------------------------------------------------
def minimal_app() -> FastAPI:
    """FastAPI with one pool of API-role connections and the board's five reads (one caller: ``USER_ENV``)."""
    bare = BareApp({"commander": os.environ[USER_ENV]}, pool_size=4)
    app = bare.app

    async def cases(conn: psycopg.AsyncConnection, incident_id: int) -> dict[str, Any]:
        rows = await (await conn.execute(CASES, {"id": incident_id, "limit": CASE_PAGE})).fetchall()
        return {"cases": [[str(r[0]), r[1], r[2], r[4], r[5], r[6], r[7], r[8], r[9]] for r in rows]}

    async def incident(conn: psycopg.AsyncConnection, incident_id: int) -> dict[str, Any]:
        found = await read_incident(conn, incident_id)
        return {**found, "areas": await current_areas(conn, incident_id)}

    async def timeline(conn: psycopg.AsyncConnection, incident_id: int) -> dict[str, Any]:
        return {"entries": await entries(conn, incident_id, 0, 200)}

    reads = {"": incident, "impact": impact, "cases": cases, "timeline": timeline, "resources": incident_resources}

    @app.get("/board/{incident_id}/{part}")
    @app.get("/board/{incident_id}")
    async def board(incident_id: int, part: str = "") -> Response:
        async with bare.scoped(bare.users["commander"]) as conn:
            return json_response(await reads[part](conn, incident_id))

    return app


# ---- measures --------------------------------------------------------------------------------------
def board_ms(http: httpx.Client, paths: list[str], rounds: int) -> tuple[float, list[float]]:
    """Median over ``rounds`` of the summed latencies of the board's requests (after one warm round), and
    each request's median (which one weighs most)."""
    timings: list[list[float]] = []
    for n in range(rounds + 1):
        each = []
        for path in paths:
            started = time.perf_counter()
            _ok(http.get(path))
            each.append((time.perf_counter() - started) * 1e3)
        if n:
            timings.append(each)
    return statistics.median([sum(each) for each in timings]), [
        statistics.median(t) for t in zip(*timings, strict=True)
    ]


def impact_ms(settings: StoreSettings, incident_id: int, rounds: int) -> tuple[float, float, bool]:
    """(IMPACT median ms, the plain queries' median ms summed, their counts equal) in the database."""
    area = UNION_OF_AREAS.replace("%(id)s", str(int(incident_id)))
    ours, plain, equal = [], [], True
    with psycopg.connect(libpq_url(settings), autocommit=True) as conn:
        for _ in range(rounds + 1):
            started = time.perf_counter()
            row = conn.execute(IMPACT, {"id": incident_id}, prepare=True).fetchone()
            ours.append((time.perf_counter() - started) * 1e3)
            started = time.perf_counter()
            counts = {name: conn.execute(sql.format(area=area)).fetchone()[0] for name, sql in PLAIN.items()}  # type: ignore[index]
            plain.append((time.perf_counter() - started) * 1e3)
            assert row is not None
            found = {"units": len(row[1]) + row[2], "buildings": row[3], "cases": row[4]}
            found["forces"] = sum(row[7].values())
            equal = equal and found == counts
    return statistics.median(ours[1:]), statistics.median(plain[1:]), equal


def run(settings: StoreSettings, *, cases: int, forces: int, km2: float, rounds: int, console: Console) -> list[Row]:
    """Seed, open the incident, measure, close it, print one table; returns the rows (the smoke test reads them)."""
    console.print(f"machine: {describe()}")
    engine = make_engine(settings)
    try:
        lon, lat, radius, area = perimeter(engine, km2)
        case_ids = ensure_cases(engine, area, cases, console)
        placed = ensure_forces(engine, area, forces, console)
        headers = bench_caller(engine, "bench-incidents-commander", ["city_commander"], "320100")
        console.print(
            f"data: an incident over {km2:,.1f} km² with {len(case_ids):,} linked cases and {placed:,} forces "
            "placed inside it"
        )
        with (
            served(settings) as base,
            served(
                settings,
                ("uvicorn", "--factory", "bench.incidents:minimal_app", "--log-level", "warning"),
                env={USER_ENV: "bench-incidents-commander"},
            ) as bare_base,
            httpx.Client(base_url=base, headers=headers, timeout=60) as http,
            httpx.Client(base_url=bare_base, timeout=60) as bare,
        ):
            incident = open_board(http, lon, lat, radius, case_ids)
            with engine.connect() as conn:  # statistics of the steady state, not of the moment before the link
                conn.execute(text("ANALYZE incident_case, incident_area, case_file, force_position"))
                conn.commit()
            try:
                ours, parts = board_ms(http, [f"/api/v1/incidents/{incident['id']}{p}" for p in PARTS], rounds)
                minimal, bare_parts = board_ms(bare, [f"/board/{incident['id']}{p}" for p in PARTS], rounds)
                impact_db, plain_db, equal = impact_ms(settings, incident["id"], rounds)
            finally:
                version = _ok(http.get(f"/api/v1/incidents/{incident['id']}"))["version"]
                _ok(http.post(f"/api/v1/incidents/{incident['id']}/close", json={"version": version, "note": "bench"}))
    finally:
        engine.dispose()
    if not equal:
        raise AssertionError("the impact query and the plain queries count differently: the comparison is void")
    for name, mine, plain in zip(PARTS, parts, bare_parts, strict=True):
        console.print(f"board request {name or '/'}: {mine:,.1f} ms (minimal app {plain:,.1f} ms)")
    rows = [
        Row(
            "board ready: 5 requests through the app, summed ms (median)",
            f"{ours:,.0f}",
            f"{BOARD_TARGET_MS:,.0f} ms target",
            BOARD_TARGET_MS / ours,
            "≥ 1.0",
        ),
        Row("board ready: against the minimal app, same SQL", f"{ours:,.0f}", f"{minimal:,.0f}", minimal / ours, "—"),
        Row(
            "impact query: one round trip in the database, ms (median)",
            f"{impact_db:,.1f}",
            f"{IMPACT_TARGET_MS:,.0f} ms target",
            IMPACT_TARGET_MS / impact_db,
            "≥ 1.0",
        ),
        Row(
            "impact query: against plain ST_Intersects, same counts",
            f"{impact_db:,.1f} (equal counts)",
            f"{plain_db:,.1f} (4 plain queries)",
            plain_db / impact_db,
            "—",
        ),
    ]
    print_table(rows, console)
    if not equal:
        raise RuntimeError("the impact query's counts differ from plain ST_Intersects")
    return rows
