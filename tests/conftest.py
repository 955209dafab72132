"""Fixtures: a real embedded PostGIS for the whole session, the Nanjing demo, fresh databases.

Nothing here skips: if PostgreSQL or PostGIS is missing the session errors out with the
message that names the package to install.
"""

from __future__ import annotations

import io
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import TypeVar

import h3
import httpx
import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient
from PIL import Image
from psycopg import sql
from sqlalchemy import Connection, Engine, text

from bench.harness import SMOKE
from cityops.app import create_app
from command.loop_settings import LoopSettings
from command.taxonomy import read_categories, write_categories
from command.users import create_api_key, create_user
from fixtures.geo.generate_nanjing import ensure_generated
from forces.demo import generate_directory
from forces.directory import load_directory
from forces.positions import CELL_RESOLUTION
from grid.load import load_manifest
from sensing.broker import EmbeddedBroker
from spatial.db import make_engine
from spatial.embedded import APP_ROLE, EmbeddedCluster, free_port
from spatial.migrate import upgrade
from spatial.settings import StoreSettings
from web.settings import ApiSettings

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "var" / "test-cache"
ARTIFACTS = REPO / "test-artifacts"


def settings_for(data_dir: Path, port: int, city: str) -> StoreSettings:
    """Explicit settings: nothing from the environment or a .env file leaks into tests."""
    return StoreSettings(
        _env_file=None,
        database_url=None,
        data_dir=data_dir,
        db_port=port,
        city=city,
        db_durable=False,
        pool_size=4,
    )


@pytest.fixture(scope="session", autouse=True)
def smoke_benchmarks() -> Iterator[None]:
    """The benchmarks the suite runs are smoke runs (``bench.harness.smoke_run``): their servers are measured once
    they answer, not once their analytics are compiled (~6 s a server, ~25 servers a run), nothing warmed or drained."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SMOKE, "1")
        yield


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    """A private directory the unprivileged service account can enter (pytest's are 0700)."""
    root = Path(tempfile.mkdtemp(prefix="cityops-test-", dir="/tmp"))
    root.chmod(0o755)
    yield root / "data"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def db_port() -> int:
    return free_port(55432)


@pytest.fixture(scope="session")
def cluster(data_dir: Path, db_port: int) -> Iterator[EmbeddedCluster]:
    """The embedded cluster, started once; a failure to start fails every test that needs it."""
    embedded = EmbeddedCluster(settings_for(data_dir, db_port, "nanjing"))
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture(scope="session")
def nanjing_manifest() -> Path:
    """The generated demo tiers (cached between runs by the generator's fingerprint)."""
    return ensure_generated(CACHE)


@pytest.fixture(scope="session")
def nanjing_settings(cluster: EmbeddedCluster, data_dir: Path, db_port: int) -> StoreSettings:
    return settings_for(data_dir, db_port, "nanjing")


# (cluster port, manifest) → the database its tiers were first loaded into this session, copied for every city
_TEMPLATES: dict[tuple[int, Path], str] = {}


def load_city(cluster: EmbeddedCluster, settings: StoreSettings, manifest: Path) -> Engine:
    """A city database with the manifest's tiers and the categories.

    The first city of a manifest in a cluster is loaded through `cityops demo`'s import path (~25 s) into a
    template nothing connects to afterwards; every city, that first one too, is a copy of it (under a second).
    """
    key = (settings.db_port, manifest)
    if key not in _TEMPLATES:
        template = settings.model_copy(update={"city": f"template_{len(_TEMPLATES)}"})
        cluster.ensure_database(template.city)
        engine = make_engine(template)
        upgrade(engine)
        load_manifest(engine, manifest, template)
        with engine.begin() as conn:
            write_categories(conn, read_categories())
        engine.dispose()
        _TEMPLATES[key] = template.city
    with psycopg.connect(cluster.url(admin=True), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(settings.city), sql.Identifier(_TEMPLATES[key]), sql.Identifier(APP_ROLE)
            )
        )
    return make_engine(settings)


@pytest.fixture(scope="session")
def nanjing(cluster: EmbeddedCluster, nanjing_settings: StoreSettings, nanjing_manifest: Path) -> Iterator[Engine]:
    """The Nanjing demo loaded through the same import path as `cityops demo` (never with invented history)."""
    engine = load_city(cluster, nanjing_settings, nanjing_manifest)
    yield engine
    engine.dispose()


@contextmanager
def city_of_its_own(
    cluster: EmbeddedCluster, data_dir: Path, db_port: int, manifest: Path, name: str
) -> Iterator[tuple[Engine, StoreSettings]]:
    """Another Nanjing database ``name`` in the session's cluster, for tests whose writes would bend the shared one."""
    settings = settings_for(data_dir, db_port, name)
    engine = load_city(cluster, settings, manifest)
    yield engine, settings
    engine.dispose()


@pytest.fixture(scope="session")
def history_city(
    cluster: EmbeddedCluster, data_dir: Path, db_port: int, nanjing_manifest: Path
) -> Iterator[tuple[Engine, StoreSettings]]:
    """A second Nanjing for the synthetic year of cases: in the shared one it would bend what other tests count."""
    with city_of_its_own(cluster, data_dir, db_port, nanjing_manifest, "nanjing_history") as city:
        yield city


@pytest.fixture
def fresh(cluster: EmbeddedCluster, data_dir: Path, db_port: int) -> Iterator[tuple[Engine, StoreSettings]]:
    """An empty, migrated city database of its own, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    cluster.ensure_database(name)
    settings = settings_for(data_dir, db_port, name)
    engine = make_engine(settings)
    upgrade(engine)
    yield engine, settings
    engine.dispose()
    cluster.drop_database(name)


def api_settings(**overrides: object) -> ApiSettings:
    """Test service settings: intake limits out of the way (the rate-limit tests set their own)."""
    values: dict[str, object] = {
        "rate_intake_per_client": "1000000/minute",
        "rate_intake_per_caller": "1000000/minute",
        "log_json": True,
        **overrides,
    }
    return ApiSettings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def env(nanjing: Engine, nanjing_settings: StoreSettings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "CITYOPS_DATA_DIR": str(nanjing_settings.data_dir),
        "CITYOPS_CITY": "nanjing",
        "CITYOPS_DB_PORT": str(nanjing_settings.db_port),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CITYOPS_DATABASE_URL", raising=False)
    return values


Caller = Callable[..., dict[str, str]]
# the shared apps' deadline watch and follow-up sender run once at start, then rarely: tests drive them
QUIET_LOOP = LoopSettings(_env_file=None, deadline_sweep_s=3600)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def caller(nanjing: Engine) -> Caller:
    """Headers (an API key) of a new user with ``roles`` in ``unit``: ``caller(["street"], "320102400")``."""

    def make(roles: list[str], unit: str, department: str | None = None) -> dict[str, str]:
        name = f"t-{'-'.join(r[:6] for r in roles)}-{uuid.uuid4().hex[:8]}".replace("_", "")
        with nanjing.begin() as conn:
            create_user(conn, name, unit_code=unit, roles=roles, password=None, department=department, actor="tests")
            return {"X-API-Key": create_api_key(conn, name, "test suite", actor="tests")}

    return make


@pytest.fixture(scope="session")
def staff(caller: Caller) -> dict[str, str]:
    """Headers of a city-wide staff member (the city commander and dispatcher roles)."""
    return caller(["city_commander", "dispatcher"], "320100")


@pytest.fixture(scope="session")
def client(nanjing: Engine, nanjing_settings: StoreSettings, staff: dict[str, str]) -> Iterator[TestClient]:
    """The app in-process, calling as the city-wide staff member unless a test sends other headers."""
    app = create_app(nanjing_settings, api_settings(), loop_settings=QUIET_LOOP)
    with TestClient(app, raise_server_exceptions=False, headers=staff) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def anonymous(client: TestClient) -> TestClient:
    """The same app without credentials."""
    return TestClient(client.app, raise_server_exceptions=False)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@contextmanager
def served(
    settings: StoreSettings, first_port: int, api_options: dict[str, object] | None = None, **app_options: object
) -> Iterator[str]:
    """The real app under uvicorn on a free port from ``first_port``, ready; its base URL."""
    port = free_port(first_port)
    service = api_settings(port=port, **(api_options or {}))
    app = create_app(settings, service, loop_settings=QUIET_LOOP, **app_options)  # type: ignore[arg-type]
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz/ready").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield base
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def server(nanjing: Engine, nanjing_settings: StoreSettings) -> Iterator[str]:
    """The real app under uvicorn on a free port (browser and concurrency tests)."""
    with served(nanjing_settings, 18000) as base:
        yield base


FORCE_SQL = """
INSERT INTO force (code, name, kind, unit_id, capabilities, shift_start, shift_end, contact)
VALUES (:code, :name, CAST(:kind AS force_kind), (SELECT id FROM unit WHERE code = :unit), :caps, :start, :end,
        CAST(:contact AS jsonb)) RETURNING id
"""
POSITION_SQL = """
INSERT INTO force_position (force_id, geom, cell, fixed_at, status, capabilities, units, unit_id, shift_start,
                            shift_end)
SELECT id, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :cell, :at, status, capabilities, units, unit_id,
       shift_start, shift_end FROM force WHERE id = :id
"""


def add_force(
    engine: Engine,
    unit: str,
    capabilities: list[str],
    kind: str = "vehicle",
    *,
    at: tuple[float, float] | None = None,
    fixed_at: datetime | None = None,
    shift: tuple[clock_time, clock_time] | None = None,
) -> tuple[int, str]:
    """A force of ``unit`` (id, code), placed at ``at`` (lon, lat) with a fix of ``fixed_at`` (default now)."""
    code = f"F-{uuid.uuid4().hex[:10]}"
    start, end = shift or (None, None)
    with engine.begin() as conn:
        force_id = conn.execute(
            text(FORCE_SQL),
            {
                "code": code,
                "name": "抢险车",
                "kind": kind,
                "unit": unit,
                "caps": capabilities,
                "start": start,
                "end": end,
                "contact": '{"name": "王伟", "phone": "13912345678"}',
            },
        ).scalar_one()
        if at is not None:
            cell = h3.str_to_int(h3.latlng_to_cell(at[1], at[0], CELL_RESOLUTION))
            conn.execute(
                text(POSITION_SQL),
                {"id": force_id, "lon": at[0], "lat": at[1], "cell": cell, "at": fixed_at or datetime.now(UTC)},
            )
    return force_id, code


SENSOR_SQL = """
INSERT INTO sensor (code, kind, name, geom, cell, unit_id, units, department, asset)
SELECT :code, :kind, :name, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :cell, u.id, u.ancestors || u.id, :department,
       :asset
FROM unit u
WHERE u.code = :unit OR (CAST(:unit AS text) IS NULL AND u.tier = 'grid'
                         AND ST_Covers(u.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)))
ORDER BY u.id LIMIT 1
RETURNING id
"""


def add_sensor(
    engine: Engine,
    kind: str,
    at: tuple[float, float],
    *,
    unit: str | None = None,
    department: str | None = "水务局",
    asset: str | None = "测试河段",
) -> str:
    """A sensor of ``kind`` standing at ``at`` (lon, lat), owned by ``unit`` or the grid there; its code."""
    code = f"S-{uuid.uuid4().hex[:10]}"
    cell = h3.str_to_int(h3.latlng_to_cell(at[1], at[0], 9))
    with engine.begin() as conn:
        conn.execute(
            text(SENSOR_SQL),
            {
                "code": code,
                "kind": kind,
                "name": f"测试{kind}",
                "lon": at[0],
                "lat": at[1],
                "cell": cell,
                "unit": unit,
                "department": department,
                "asset": asset,
            },
        ).scalar_one()
    return code


def grid_point(engine: Engine, district: str, offset: int) -> tuple[float, float]:
    """A point inside the ``offset``-th grid (by code) of ``district``."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit "
                "WHERE tier = 'grid' AND code LIKE :d ORDER BY code OFFSET :o LIMIT 1) g"
            ),
            {"d": f"{district}%", "o": offset},
        ).one()
    return float(row[0]), float(row[1])


# 40 grids of a district, strewn (their cells cross tile edges), and 10 of Jiangbei New Area (a street there is the
# fourth unit of its chain, a district the third): where the rollups' tests file their histories
HISTORY_GRIDS = """
SELECT id, ST_X(p), ST_Y(p) FROM (
    (SELECT id, ST_PointOnSurface(geom) AS p FROM unit
     WHERE tier = 'grid' AND ancestors @> ARRAY[CAST(:district AS bigint)] ORDER BY md5(code) LIMIT 40)
    UNION ALL
    (SELECT id, ST_PointOnSurface(geom) FROM unit
     WHERE tier = 'grid' AND cardinality(ancestors) = 5 ORDER BY id LIMIT 10)
) g
"""


def history_grids(conn: Connection, district: int) -> dict[str, list]:
    """The 50 grids' ids, points and resolution-10 cells, as the history inserts' arrays (``ids``, ``lons``,
    ``lats``, ``cells``): the district's 40 first, Jiangbei's 10 after."""
    grids = conn.execute(text(HISTORY_GRIDS), {"district": district}).all()
    return {
        "ids": [g[0] for g in grids],
        "lons": [g[1] for g in grids],
        "lats": [g[2] for g in grids],
        "cells": [h3.str_to_int(h3.latlng_to_cell(lat, lon, 10)) for _, lon, lat in grids],
    }


def eventually(check: Callable[[], T], timeout_s: float = 20) -> T:
    """``check()`` polled every 0.1 s until it answers something true, which is returned; fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s")


@pytest.fixture(scope="session")
def broker(nanjing_settings: StoreSettings) -> Iterator[EmbeddedBroker]:
    """The platform's own Mosquitto for the suite, under the suite's data directory; stopped at the end."""
    embedded = EmbeddedBroker(nanjing_settings)
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture(scope="session")
def demo_forces(nanjing: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo directory generated for the test hierarchy and loaded (as `cityops demo` does)."""
    path = tmp_path_factory.mktemp("forces") / "forces.csv"
    generate_directory(nanjing, path)
    load_directory(nanjing, path, actor="tests", synthetic=True)
    return path


VOID_TRANSITIONS = """
INSERT INTO case_transition (case_id, seq, action, from_state, to_state, actor, roles, note, prev_hash, hash)
SELECT id, 0, 'void', state, 'void', 'tests', '{{}}', 'cleared for a test', '', '' FROM case_file WHERE {where}
"""


def void_open_cases(engine: Engine, where: str, params: dict[str, object]) -> None:
    """Void the open cases ``where`` says (SQL on ``case_file``), each with a transition, so chains stay whole.

    Tests clear a spot this way before filing a report there, so it opens a case of its own
    instead of joining an earlier test's.
    """
    condition = f"state NOT IN ('void', 'closed') AND ({where})"
    with engine.begin() as conn:
        conn.execute(text(VOID_TRANSITIONS.format(where=condition)), params)
        conn.execute(
            text(f"DELETE FROM case_clock WHERE case_id IN (SELECT id FROM case_file WHERE {condition})"), params
        )
        conn.execute(text(f"UPDATE case_file SET state = 'void', version = version + 1 WHERE {condition}"), params)


def retire_history(engine: Engine, tag: str) -> None:
    """Take a test's history (cases described ``tag``) out of the other tests' counts and queues: the open ones
    voided with a move each, their clocks gone, the rest (closed) voided as they are."""
    void_open_cases(engine, "description = :t", {"t": tag})
    with engine.begin() as conn:
        mine = "SELECT id FROM case_file WHERE description = :t"
        conn.execute(text(f"DELETE FROM case_clock WHERE case_id IN ({mine})"), {"t": tag})
        conn.execute(text("UPDATE case_file SET state = 'void' WHERE description = :t"), {"t": tag})


def tiny_png(seed: int | None = None) -> bytes:
    """A valid 8×8 PNG of one colour, random unless ``seed`` says (each a different file)."""
    colour = random.Random(seed).getrandbits(24).to_bytes(3, "big")
    out = io.BytesIO()
    Image.new("RGB", (8, 8), tuple(colour)).save(out, format="PNG")
    return out.getvalue()


def upload_evidence(
    client: TestClient, case: int | str, headers: dict[str, str] | None = None, photo: bytes | None = None
) -> str:
    """Upload a photo (a fresh tiny PNG by default) as evidence of the case; its SHA-256 as stored."""
    files = [("media", ("evidence.png", photo or tiny_png(), "image/png"))]
    answer = client.post(f"/api/v1/cases/{case}/media", files=files, headers=headers or {})
    assert answer.status_code == 201, answer.text
    return answer.json()["media"][0]["sha256"]
