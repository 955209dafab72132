"""The scenario registry, the monthly publications and the public page (issue 24, items 1 and 2).

A city of its own holds a synthetic year of cases plus reports made through the API with a reporter, a
marked description and an address, some of them in a sensitive category. Its current month is published
as if it had ended; every public output is then scanned for personal fields and exact positions, the
figures are recomputed from the raw cases, and the publication is checked to be reproducible, signed and
frozen.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h3
import orjson
import pandas as pd
import psycopg
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cityops.app import create_app
from cityops.cli import app as cli
from command.users import create_api_key, create_user
from command.working_time import CHINA
from exchange import publications, scenarios
from exchange.public_figures import Month
from exchange.publication_key import signing_key
from spatial.db import libpq_url
from spatial.embedded import EmbeddedCluster
from spatial.errors import InvalidInputError
from spatial.settings import StoreSettings
from tests.conftest import QUIET_LOOP, api_settings, city_of_its_own, grid_point

PASSWORD = "public page password"
MARK = "公开测试隐私标记"
REPORTER = {"name": "欧阳隐私", "phone": "13987654321"}
ADDRESS = "隐私路88号"
SENSITIVE = "020601"  # 噪声扰民: the reporter's home is near
ORDINARY = "020102"  # 暴露垃圾, fed to the street-order scenario
SCENARIOS = Path(__file__).parent.parent / "fixtures" / "nanjing_scenarios.csv"
FILES = ("counts.csv", "counts.geojson", "points.csv", "points.geojson", "summary.json")


@dataclass(frozen=True)
class PublicCity:
    """The test's city: its engine and settings, its app, a commander's key and the month published."""

    engine: Engine
    settings: StoreSettings
    api: TestClient
    commander: dict[str, str]
    month: Month
    reported: list[dict[str, Any]]
    key_dir: Path


def _run(settings: StoreSettings, work: Any) -> Any:
    async def go() -> Any:
        async with await psycopg.AsyncConnection.connect(libpq_url(settings), autocommit=True) as conn:
            return await work(conn)

    return asyncio.run(go())


def _key(engine: Engine, name: str, roles: list[str], unit: str) -> dict[str, str]:
    with engine.begin() as conn:
        create_user(conn, name, unit_code=unit, roles=roles, password=PASSWORD, actor="tests")
        return {"X-API-Key": create_api_key(conn, name, "public tests", actor="tests")}


@pytest.fixture(scope="module")
def city(
    cluster: EmbeddedCluster,
    data_dir: Path,
    db_port: int,
    nanjing_manifest: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PublicCity]:
    from command.synthetic_history import load_history

    with city_of_its_own(cluster, data_dir, db_port, nanjing_manifest, "nanjing_public") as (engine, settings):
        load_history(settings, engine, 900, prefix="test-public", seed=11)
        commander = _key(engine, "public-commander", ["city_commander"], "320100")
        app = create_app(settings, api_settings(), loop_settings=QUIET_LOOP)
        with TestClient(app, raise_server_exceptions=False) as api:
            for draft in scenarios.read_file(SCENARIOS):
                answer = api.post("/api/v1/scenarios", json=draft.model_dump(mode="json"), headers=commander)
                assert answer.status_code == 201, answer.text
            reported = []
            for number, (district, category) in enumerate(
                [
                    ("320102", SENSITIVE),
                    ("320104", SENSITIVE),
                    ("320106", SENSITIVE),
                    ("320102", ORDINARY),
                    ("320115", ORDINARY),
                ]
            ):
                lon, lat = grid_point(engine, district, 3 + number)
                body = {
                    "lon": lon,
                    "lat": lat,
                    "category": category,
                    "source": "hotline",
                    "description": f"{MARK} {uuid.uuid4().hex[:6]}",
                    "address": ADDRESS,
                    "reporter": REPORTER,
                }
                answer = api.post("/api/v1/reports", json=body, headers=commander)
                assert answer.status_code == 201, answer.text
                reported.append(body | {"case_id": answer.json()["case_id"]})
            month = Month(datetime.now(CHINA).date().replace(day=1))
            key_dir = tmp_path_factory.mktemp("publication-key")
            published = _run(
                settings,
                lambda conn: publications.publish(
                    conn, month, signing_key(key_dir, "tests"), "tests", month.end + timedelta(minutes=1)
                ),
            )
            assert published.now
            yield PublicCity(engine, settings, api, commander, month, reported, key_dir)


def _public_texts(city: PublicCity) -> dict[str, str]:
    """Every public output of the city, by address: the pages, the files, the manifest, the API's public answers."""
    anonymous = TestClient(city.api.app, raise_server_exceptions=False)
    m = city.month.label
    paths = ["/public", f"/public/{m}", f"/public/{m}?lang=en", "/api/v1/scenarios", "/api/v1/publications"]
    paths += [f"/public/{m}/{name}" for name in (*FILES, "manifest.json", "manifest.sig", "key.pem")]
    paths.append(f"/api/v1/publications/{m}")
    texts = {}
    for path in paths:
        answer = anonymous.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        texts[path] = answer.text
    return texts


def _on_h3_centre(lon: float, lat: float) -> bool:
    cell = h3.latlng_to_cell(lat, lon, 8)
    centre_lat, centre_lon = h3.cell_to_latlng(cell)
    return round(centre_lon, 6) == lon and round(centre_lat, 6) == lat


def test_no_public_output_holds_a_personal_field_or_an_exact_sensitive_position(city: PublicCity) -> None:
    texts = _public_texts(city)
    everything = "\n".join(texts.values())
    for personal in (MARK, REPORTER["name"], REPORTER["phone"], ADDRESS):
        assert personal not in everything
    with city.engine.connect() as conn:
        month_cases = conn.execute(
            text(
                "SELECT e.description, e.address, ST_X(e.geom), ST_Y(e.geom), k.sensitive, r.reporter::text "
                "FROM case_file e JOIN category k ON k.code = e.category_code LEFT JOIN report r ON r.case_id = e.id "
                "WHERE e.created_at >= :s AND e.created_at < :e"
            ),
            {"s": city.month.start, "e": city.month.end},
        ).all()
    assert len(month_cases) > len(city.reported) and any(row[4] for row in month_cases)
    for _, address, lon, lat, sensitive, reporter in month_cases:  # descriptions: the marked ones, above
        assert not address or address not in everything
        assert not reporter or reporter not in everything
        if sensitive:  # neither the position nor any rounding of it a reader could match
            for decimals in (6, 5, 4):
                assert f"{lon:.{decimals}f},{lat:.{decimals}f}" not in everything.replace(" ", "")
    points = orjson.loads(texts[f"/public/{city.month.label}/points.geojson"])["features"]
    assert points and all(p["properties"]["category"] != SENSITIVE for p in points)
    assert all(set(p["properties"]) == {"category", "category_name", "district", "day", "closed"} for p in points)
    assert all(_on_h3_centre(*p["geometry"]["coordinates"]) for p in points)
    rows = list(csv.DictReader(io.StringIO(texts[f"/public/{city.month.label}/points.csv"].lstrip("\ufeff"))))
    assert len(rows) == len(points) and all(_on_h3_centre(float(r["lon"]), float(r["lat"])) for r in rows)
    ordinary = [r for r in city.reported if r["category"] == ORDINARY]
    for report in ordinary:  # an ordinary case shows, at its cell's centre, never where it was reported
        assert f"{report['lon']:.6f}" not in everything
        centre = h3.cell_to_latlng(h3.latlng_to_cell(report["lat"], report["lon"], 8))
        assert any(p["geometry"]["coordinates"] == [round(centre[1], 6), round(centre[0], 6)] for p in points)


def _raw_figures(engine: Engine, month: Month, categories: list[str]) -> pd.DataFrame:
    """The month's cases of ``categories`` read plainly, one row each, for figures worked out here."""
    with engine.connect() as conn:
        frame = pd.read_sql(
            text(
                "SELECT d.code AS district, e.created_at, e.closed_at, e.deadline, e.state FROM case_file e "
                "JOIN unit d ON d.id = e.units[2] WHERE e.merged_into IS NULL AND e.category_code = ANY(:c)"
            ),
            conn,
            params={"c": categories},
        )
    frame["received"] = (frame.created_at >= month.start) & (frame.created_at < month.end)
    frame["closed"] = (frame.state == "closed") & (frame.closed_at >= month.start) & (frame.closed_at < month.end)
    frame["on_time"] = frame.closed & (frame.closed_at <= frame.deadline)
    frame["hours"] = (frame.closed_at - frame.created_at).dt.total_seconds() / 3600
    return frame


def test_scenario_indicators_equal_the_raw_cases(city: PublicCity) -> None:
    summary = orjson.loads(city.api.get(f"/public/{city.month.label}/summary.json").content)
    street_order = next(s for s in summary["scenarios"] if s["code"] == "street-order")
    frame = _raw_figures(city.engine, city.month, street_order["categories"])
    assert frame.received.sum() > 0
    for district, figures in [
        (None, street_order["indicators"]["city"]),
        *street_order["indicators"]["districts"].items(),
    ]:
        part = frame if district is None else frame[frame.district == district]
        closed = part[part.closed]
        assert figures["received"] == int(part.received.sum())
        assert figures["closed"] == len(closed)
        assert figures["closed_on_time"] == int(part.on_time.sum())
        if len(closed):
            assert figures["on_time_rate"] == round(part.on_time.sum() / len(closed), 4)
            assert figures["average_handling_hours"] == round(closed.hours.mean(), 1)
    with city.engine.connect() as conn:
        everything = conn.execute(
            text("SELECT count(*) FROM case_file WHERE merged_into IS NULL AND created_at >= :s AND created_at < :e"),
            {"s": city.month.start, "e": city.month.end},
        ).scalar_one()
    assert sum(d["received"] for d in summary["districts"]) == everything
    counts = csv.DictReader(io.StringIO(city.api.get(f"/public/{city.month.label}/counts.csv").text.lstrip("\ufeff")))
    assert sum(int(r["received"]) for r in counts if r["tier"] == "district") == everything


def test_the_publication_is_signed_reproducible_and_never_rewritten(city: PublicCity) -> None:
    month = city.month
    anonymous = TestClient(city.api.app, raise_server_exceptions=False)
    manifest = anonymous.get(f"/public/{month.label}/manifest.json").content
    signature = base64.b64decode(anonymous.get(f"/public/{month.label}/manifest.sig").text)
    load_pem_public_key(anonymous.get(f"/public/{month.label}/key.pem").content).verify(signature, manifest)  # type: ignore[union-attr]
    for entry in orjson.loads(manifest)["files"]:
        body = anonymous.get(f"/public/{month.label}/{entry['name']}").content
        assert len(body) == entry["bytes"] and hashlib.sha256(body).hexdigest() == entry["sha256"]
    key = signing_key(city.key_dir, "tests")
    pem = _run(city.settings, lambda conn: publications.publication(conn, month)).public_key_pem
    first = _run(city.settings, lambda conn: publications.build(conn, month, pem))
    assert _run(city.settings, lambda conn: publications.build(conn, month, pem)) == first  # same data, same bytes
    assert first[0] == manifest
    again = _run(city.settings, lambda conn: publications.publish(conn, month, key, "tests", month.end))
    assert not again.now and not again.differs_today and again.publication.manifest == manifest
    lon, lat = grid_point(city.engine, "320113", 2)  # today's data changes: the publication does not
    body = {"lon": lon, "lat": lat, "category": ORDINARY, "source": "hotline", "description": "新的一件"}
    assert city.api.post("/api/v1/reports", json=body, headers=city.commander).status_code == 201
    later = _run(city.settings, lambda conn: publications.publish(conn, month, key, "tests", month.end))
    assert later.differs_today and later.publication.manifest == manifest
    assert anonymous.get(f"/public/{month.label}/manifest.json").content == manifest
    assert _run(city.settings, lambda conn: publications.verify(conn, month)) == []
    with pytest.raises(Exception, match="append-only"), city.engine.begin() as conn:
        conn.execute(text("UPDATE publication_file SET body = 'x' WHERE month = :m"), {"m": month.first_day})


def test_an_altered_file_fails_verification(city: PublicCity) -> None:
    earlier = Month((city.month.start - timedelta(days=1)).date().replace(day=1))
    runner = CliRunner()
    environment = {"CITYOPS_CITY": city.settings.city, "CITYOPS_DATA_DIR": str(city.settings.data_dir)}
    environment["CITYOPS_DB_PORT"] = str(city.settings.db_port)
    published = runner.invoke(cli, ["publish", "--month", earlier.label], env=environment)
    assert published.exit_code == 0 and f"{earlier.label}: published" in published.output, published.output
    again = runner.invoke(cli, ["publish", "--month", earlier.label], env=environment)
    assert again.exit_code == 0 and "already published" in again.output, again.output
    sound = runner.invoke(cli, ["publications", "verify", "--month", earlier.label], env=environment)
    assert sound.exit_code == 0, sound.output
    with city.engine.begin() as conn:  # someone with the owner's password edits a file behind the triggers' back
        conn.execute(text("ALTER TABLE publication_file DISABLE TRIGGER publication_file_frozen"))
        conn.execute(
            text("UPDATE publication_file SET body = body || '\n'::bytea WHERE month = :m AND name = 'counts.csv'"),
            {"m": earlier.first_day},
        )
        conn.execute(text("ALTER TABLE publication_file ENABLE TRIGGER publication_file_frozen"))
    altered = runner.invoke(cli, ["publications", "verify", "--month", earlier.label], env=environment)
    assert altered.exit_code == 1 and "counts.csv differs" in altered.output, altered.output


def test_months_that_cannot_be_published_or_read(city: PublicCity) -> None:
    key = signing_key(city.key_dir, "tests")
    with pytest.raises(InvalidInputError, match="has not ended"):
        _run(city.settings, lambda conn: publications.publish(conn, city.month, key, "tests", datetime.now(UTC)))
    with pytest.raises(InvalidInputError, match="YYYY-MM"):
        Month.parse("2026-13")
    anonymous = TestClient(city.api.app, raise_server_exceptions=False)
    assert anonymous.get("/api/v1/publications/1999-01").status_code == 404
    assert anonymous.get("/api/v1/publications/2026-13").status_code in (400, 422)
    missing = anonymous.get("/public/1999-01")
    assert missing.status_code == 404 and "尚未发布" in missing.text
    assert anonymous.get(f"/public/{city.month.label}/secrets.csv").status_code == 404
    assert anonymous.get(f"/public/{city.month.label}/..%2Fkey.txt").status_code in (404, 422)


def test_the_public_page_speaks_chinese_first_and_is_cacheable(city: PublicCity) -> None:
    anonymous = TestClient(city.api.app, raise_server_exceptions=False)
    page = anonymous.get("/public")
    assert page.status_code == 200 and "城市运行公开信息" in page.text and "市容秩序" in page.text
    assert page.headers["cache-control"].startswith("public") and "cookie" in page.headers["vary"].lower()
    assert f"/public/{city.month.label}/counts.geojson" in page.text
    english = anonymous.get("/public?lang=en")
    assert "public status" in english.text and "Street order" in english.text
    file = anonymous.get(f"/public/{city.month.label}/counts.csv")
    assert "immutable" in file.headers["cache-control"]
    assert (
        anonymous.get(
            f"/public/{city.month.label}/counts.csv", headers={"If-None-Match": file.headers["etag"]}
        ).status_code
        == 304
    )


def test_scenarios_are_written_by_city_command_only(city: PublicCity) -> None:
    api = city.api
    listed = TestClient(api.app, raise_server_exceptions=False).get("/api/v1/scenarios")
    assert listed.status_code == 200 and {"flood-watch", "street-order"} <= {s["code"] for s in listed.json()}
    draft = {"code": "noise-watch", "name": "噪声治理", "name_en": "Noise", "field": "daily", "owner_unit": "320102"}
    worker = _key(city.engine, "public-worker", ["grid_worker"], "320102")
    assert api.post("/api/v1/scenarios", json=draft, headers=worker).status_code == 403
    district = _key(city.engine, "public-district-commander", ["city_commander"], "320102")
    refused = api.post("/api/v1/scenarios", json=draft, headers=district)
    assert refused.status_code == 403, refused.text  # the permission without a city-wide scope: row-level security
    added = api.post("/api/v1/scenarios", json=draft, headers=city.commander)
    assert added.status_code == 201 and added.json()["version"] == 1 and added.json()["status"] == "planned"
    assert api.post("/api/v1/scenarios", json=draft, headers=city.commander).status_code == 409
    for wrong, says in (
        ({"categories": ["999999"]}, "unknown categor"),
        ({"sources": ["fax"]}, "unknown source"),
        ({"owner_unit": "nowhere"}, "owner_unit"),
        ({"field": "sport"}, "field"),
        ({"code": "Bad Code"}, "code"),
    ):
        answer = api.post("/api/v1/scenarios", json=draft | {"code": "other"} | wrong, headers=city.commander)
        assert answer.status_code in (400, 422) and says in answer.text, (wrong, answer.text)
    change = draft | {"status": "live", "categories": [SENSITIVE], "version": 1}
    changed = api.put("/api/v1/scenarios/noise-watch", json=change, headers=city.commander)
    assert changed.status_code == 200 and changed.json()["version"] == 2 and changed.json()["categories"] == [SENSITIVE]
    assert api.put("/api/v1/scenarios/noise-watch", json=change, headers=city.commander).status_code == 409
    assert api.put("/api/v1/scenarios/flood-watch", json=change, headers=city.commander).status_code in (400, 422)


def test_the_registry_screen_adds_and_changes_a_scenario(city: PublicCity) -> None:
    browser = TestClient(city.api.app, raise_server_exceptions=False, headers={"X-Requested-With": "htmx"})
    signed = browser.post("/api/v1/auth/session", data={"username": "public-commander", "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    page = browser.get("/scenarios")
    assert page.status_code == 200 and "应用场景管理" in page.text and "flood-watch" in page.text
    form = {
        "code": "heat-watch",
        "name": "高温防护",
        "name_en": "Heat watch",
        "field": "emergency",
        "status": "building",
    }
    form |= {"owner_unit": "320100", "categories": ["010101", "010102"], "sources": ["sensor"]}
    added = browser.post("/scenarios", data=form)
    assert added.status_code == 200 and "高温防护" in added.text
    assert "上水井盖, 污水井盖" in added.text and "010101, 010102" not in added.text  # what feeds it, by name
    refused = browser.post("/scenarios", data=form | {"code": "heat-two", "categories": ["999999"]})
    assert refused.status_code in (400, 422) and "999999" in refused.headers["hx-trigger"]
    stale = browser.post("/scenarios/heat-watch", data=form | {"version": "7", "status": "live"})
    assert stale.status_code == 409
    moved = browser.post("/scenarios/heat-watch", data=form | {"version": "1", "status": "live"})
    assert moved.status_code == 200
    row = _run(city.settings, lambda conn: scenarios.one(conn, "heat-watch"))
    assert row["status"] == "live" and row["version"] == 2 and row["sources"] == ["sensor"]
    worker_page = TestClient(city.api.app, raise_server_exceptions=False, headers={"X-Requested-With": "htmx"})
    with city.engine.begin() as conn:
        create_user(conn, "public-street", unit_code="320102", roles=["street"], password=PASSWORD, actor="tests")
    assert (
        worker_page.post("/api/v1/auth/session", data={"username": "public-street", "password": PASSWORD}).status_code
        == 200
    )
    assert worker_page.get("/scenarios").status_code == 403
