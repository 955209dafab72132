"""The OpenAPI document is the API's contract: schemathesis calls every operation with generated input.

It runs against the real service, ``cityops serve --workers 2 --pooler``, on a Nanjing of its own (the fuzzer files
reports, moves cases, adds users: in the shared database it would bend what other tests count), as a city
commander, a grid worker and an anonymous caller. Each generated request is sent as each of them, and every
answer must be no server error, one of the statuses the document lists, in its media type, and match its schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, text

from cityops.app import create_app
from command.users import create_api_key, create_user
from spatial.embedded import EmbeddedCluster, free_port
from spatial.embedded_pooler import EmbeddedPooler
from spatial.settings import StoreSettings
from tests.conftest import REPO, add_force, api_settings, city_of_its_own, settings_for
from tests.processes import serving, start, still_serving, stop
from web.counter_store import EmbeddedCounters

OGC = "/ogc"  # OGC API Features documents its own answers (api/ogc, tests/test_ogc.py)
# Not fuzzed, and why:
EXCLUDED = {
    # the live stream never ends (an SSE feed); tests/test_stream.py covers it
    ("GET", "/api/v1/stream"),
    # these end the caller's own login: the fuzzer's later requests would be refused as signed out
    ("POST", "/api/v1/auth/revoke"),
    ("POST", "/api/v1/auth/session/end"),
}
EXAMPLES = 6  # per operation (and each sent as every role): the module runs in a few minutes on 2 cores
CHECKS = (
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
)


@pytest.fixture(scope="module")
def contract_city(
    cluster: EmbeddedCluster, data_dir: Path, db_port: int, nanjing_manifest: Path
) -> Iterator[tuple[Engine, StoreSettings]]:
    with city_of_its_own(cluster, data_dir, db_port, nanjing_manifest, "nanjing_contract") as city:
        yield city


def _user(engine: Engine, roles: list[str], unit: str) -> dict[str, str]:
    name = f"contract-{roles[0].replace('_', '')}"
    with engine.begin() as conn:
        create_user(conn, name, unit_code=unit, roles=roles, password=None, actor="tests")
        return {"X-API-Key": create_api_key(conn, name, "contract test", actor="tests")}


@pytest.fixture(scope="module")
def roles(contract_city: tuple[Engine, StoreSettings]) -> dict[str, dict[str, str]]:
    """Headers per caller: a city commander (and dispatcher, administrator), a grid worker, nobody."""
    engine, _ = contract_city
    with engine.connect() as conn:
        grid = conn.execute(text("SELECT code FROM unit WHERE tier = 'grid' ORDER BY code LIMIT 1")).scalar_one()
    return {
        "commander": _user(engine, ["city_commander", "dispatcher", "admin"], "320100"),
        "grid worker": _user(engine, ["grid_worker"], grid),
        "anonymous": {},
    }


@pytest.fixture(scope="module")
def contract_server(
    contract_city: tuple[Engine, StoreSettings],
    roles: dict[str, dict[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """``cityops serve --workers 2 --pooler`` as deployed with many processes (the loops once across them, rate-limit
    counters in the platform's Redis, their pools through PgBouncer), with a few cases and a tracked force, so lists
    and look-ups answer with real records."""
    engine, settings = contract_city
    log, port = tmp_path_factory.mktemp("contract") / "serve.log", free_port(18700)
    args = ["serve", "--workers", "2", "--pooler", "--port", str(port)]
    server = start(settings, args, log, CITYOPS_DEADLINE_SWEEP_S="3600")
    try:
        base = serving(server, port, log)
        with engine.connect() as conn:
            points = conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p), code FROM (SELECT code, ST_PointOnSurface(geom) AS p FROM unit "
                    "WHERE tier = 'grid' ORDER BY code LIMIT 3) g"
                )
            ).all()
            street = conn.execute(
                text("SELECT code FROM unit WHERE tier = 'street' ORDER BY code LIMIT 1")
            ).scalar_one()
        for lon, lat, _ in points:
            answer = httpx.post(
                f"{base}/api/v1/reports",
                headers=roles["commander"],
                json={
                    "lon": lon,
                    "lat": lat,
                    "category": "020102",
                    "source": "hotline",
                    "description": "暴露垃圾",
                    "reporter": {"name": "王五", "phone": "13900002222"},
                },
            )
            assert answer.status_code == 201, answer.text
        add_force(engine, street, ["drainage"], at=(points[0][0], points[0][1]))
        yield base
        still_serving(server, log)
    finally:
        stop(server)
        EmbeddedCounters(settings).stop()  # the server stops it on a clean exit; not if it had to be killed
        EmbeddedPooler(settings).stop()  # left running by the server, as the database is


def _document() -> dict[str, object]:
    """The document the app serves (built without a database: it is the routes' own description)."""
    app = create_app(settings_for(REPO / "var", 5432, "nanjing"), api_settings(secret_key="contract-" + "k" * 32))
    return app.openapi()


DOCUMENT = _document()
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 19,
        "generation": {"max-examples": EXAMPLES, "mode": "all"},
        # the document's examples (a point in Nanjing, case 1 …) reach success answers; coverage tries every boundary
        "phases": {
            "examples": {"enabled": True, "fill-missing": True},
            "coverage": {"enabled": True},
            "stateful": {"enabled": False},
        },
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
for _method, _path in EXCLUDED:
    schema = schema.exclude(method=_method, path=_path)


def test_the_served_document_is_the_one_fuzzed(contract_server: str) -> None:
    served_document = httpx.get(f"{contract_server}/openapi.json", timeout=60).json()  # built on first asking
    assert served_document == DOCUMENT
    refusal = DOCUMENT["components"]["schemas"]["Refusal"]  # type: ignore[index]
    assert refusal["properties"]["detail"] == {
        "type": "string",
        "title": "Detail",
        "description": "What was refused and what to fix, in English",
    }
    assert "HTTPValidationError" not in DOCUMENT["components"]["schemas"]  # type: ignore[operator]


def test_concurrent_callers_through_the_pooler_each_read_their_own_scope(
    contract_server: str, contract_city: tuple[Engine, StoreSettings], roles: dict[str, dict[str, str]]
) -> None:
    """PgBouncer lends server connections between transactions: a scope set on one and a query run on another
    would show a caller someone else's cases. Two callers of different reach, at once, many times over."""
    engine, _ = contract_city
    with engine.connect() as conn:
        in_grid = set(
            conn.execute(
                text(
                    "SELECT id::text FROM case_file WHERE units @> ARRAY[(SELECT id FROM unit WHERE tier = 'grid' "
                    "ORDER BY code LIMIT 1)]"
                )
            ).scalars()
        )

    def listed(who: str) -> frozenset[str]:
        answer = httpx.get(f"{contract_server}/api/v1/cases", params={"limit": 1000}, headers=roles[who], timeout=30)
        assert answer.status_code == 200, answer.text
        return frozenset(row["id"] for row in answer.json()["items"])

    with ThreadPoolExecutor(8) as callers:
        seen = list(callers.map(listed, ["grid worker", "commander"] * 40))
    assert set(seen[0::2]) == {frozenset(in_grid)} and in_grid  # the worker: their grid's cases, every time
    assert len(set(seen[1::2])) == 1 and seen[1] > seen[0]  # the commander: the city's, every time


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in DOCUMENT["paths"].items()  # type: ignore[attr-defined]
        for method, operation in item.items()
    ]


def test_every_json_answer_has_a_schema() -> None:
    """No success answer documented as any value (``{}``) or as a string while it is a JSON object."""
    vague = [
        (method, path, status, media)
        for method, path, operation in _operations()
        for status, answer in operation["responses"].items()
        if status.startswith("2")
        for media, content in answer.get("content", {}).items()
        if "json" in media and content.get("schema") in ({}, {"type": "string"}, None) and not path.startswith(OGC)
    ]
    assert not vague, vague
    assert len(_operations()) > 90


def test_every_refusal_is_documented_in_the_shape_it_is_sent() -> None:
    """4xx and 5xx: the platform's Refusal (Open311: the GeoReport error list); guarded operations list 401 and 403,
    path look-ups 404, the database-backed ones 503, all 500."""
    for method, path, operation in _operations():
        responses = operation["responses"]
        assert ("500" in responses and "503" in responses) or path.startswith("/basemap"), (method, path)
        if operation.get("security"):
            assert {"401", "403"} <= set(responses), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        for status, answer in responses.items():
            if status[0] in "45":
                schema = answer["content"]["application/json"]["schema"]
                own = path.startswith("/open311") and status in ("400", "403", "404", "429")
                expected = "#/components/schemas/SpecError" if own else "#/components/schemas/Refusal"
                assert expected in str(schema), (method, path, status, schema)


def test_a_body_that_is_not_utf8_is_refused_saying_why(contract_server: str) -> None:
    answer = httpx.post(
        f"{contract_server}/api/v1/auth/refresh",
        content=b'{"refresh_token": "\xff\xfe"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "bad_request"
    assert "cannot be read as application/json" in answer.json()["detail"] and "utf-8" in answer.json()["detail"]


def test_the_longest_polygon_the_document_allows_reaches_the_app(
    contract_server: str, roles: dict[str, dict[str, str]]
) -> None:
    """The server refuses a request line over 64 KiB in plain text, before the app: a documented maxLength must fit
    (percent-encoded, as a client sends it: each space 3 bytes)."""
    forces = next(o for m, p, o in _operations() if (m, p) == ("GET", "/api/v1/forces"))
    within = next(p for p in forces["parameters"] if p["name"] == "within")
    longest = next(alt["maxLength"] for alt in within["schema"]["anyOf"] if "maxLength" in alt)
    square = json.dumps(
        {
            "type": "Polygon",
            "coordinates": [[[118.7, 32.0], [118.9, 32.0], [118.9, 32.1], [118.7, 32.1], [118.7, 32.0]]],
        }
    )
    answer = httpx.get(
        f"{contract_server}/api/v1/forces", headers=roles["commander"], params={"within": square.ljust(longest)}
    )
    assert answer.status_code == 200, answer.text[:200]
    assert answer.headers["content-type"] == "application/json"


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=EXAMPLES)
def test_every_answer_matches_the_document(
    case: schemathesis.Case, contract_server: str, roles: dict[str, dict[str, str]]
) -> None:
    for headers in roles.values():
        case.call_and_validate(base_url=contract_server, headers=headers, checks=list(CHECKS))
