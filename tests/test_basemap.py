"""The city's own basemap (issue 18): `cityops basemap import` and `/basemap/{z}/{x}/{y}` from real packages.

The packages are built here from the Nanjing outlines in the test database — vector tiles cut by
PostGIS, raster tiles drawn from the same outlines — and written as MBTiles and PMTiles the way
tools write them (MBTiles rows in TMS order, vector tiles gzipped). What is served is compared with
tiles cut straight from the database by their XYZ address, so a wrong y-flip cannot pass.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from bench import basemap as basemap_bench
from bench.basemap import raster_tiles, vector_tiles, write_mbtiles, write_pmtiles
from cityops.app import create_app
from cityops.cli import app
from spatial.basemap import basemap_dir, remove_package
from spatial.settings import StoreSettings
from tests.conftest import QUIET_LOOP, api_settings

runner = CliRunner()
RASTER_ZOOMS, VECTOR_ZOOMS = range(9, 13), range(8, 13)
XUANWU = "320102"  # 玄武区


@pytest.fixture(scope="module")
def built(nanjing: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The packages and the tiles they hold, keyed by XYZ address (y from the top)."""
    folder = tmp_path_factory.mktemp("basemaps")
    bounds = basemap_bench.city_bounds(nanjing)
    raster, vector = raster_tiles(nanjing, RASTER_ZOOMS), vector_tiles(nanjing, VECTOR_ZOOMS)
    paths = {
        "raster.mbtiles": folder / "南京-raster.mbtiles",
        "vector.mbtiles": folder / "vector.mbtiles",
        "vector.pmtiles": folder / "vector.pmtiles",
    }
    write_mbtiles(paths["raster.mbtiles"], raster, "png", bounds)
    write_mbtiles(paths["vector.mbtiles"], vector, "pbf", bounds)
    write_pmtiles(paths["vector.pmtiles"], vector, "pbf", bounds)
    return {"paths": paths, "raster": raster, "vector": vector, "folder": folder}


@pytest.fixture
def served_dir(env: dict[str, str], nanjing_settings: StoreSettings) -> Iterator[Path]:
    """The city's basemap directory, emptied after the test (other tests' maps start without a package)."""
    directory = basemap_dir(nanjing_settings)
    yield directory
    remove_package(directory)


def xuanwu_tile(nanjing: Engine, z: int) -> tuple[int, int, int]:
    """The XYZ tile holding 玄武区's label point (the place layer's point)."""
    with nanjing.connect() as conn:
        lon, lat = conn.execute(
            text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM unit WHERE code = :c) q"),
            {"c": XUANWU},
        ).one()
    return z, *basemap_bench._tile_of(lon, lat, z)


def imported(path: Path) -> str:
    result = runner.invoke(app, ["basemap", "import", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_raster_mbtiles_served_byte_equal_with_the_y_flip(
    client: TestClient, nanjing: Engine, built: dict, served_dir: Path
) -> None:
    output = imported(built["paths"]["raster.mbtiles"])
    assert "mbtiles, raster (png)" in output and "9–12" in output and "南京-raster.mbtiles" in output
    info = client.get("/basemap/info").json()
    package = info["package"]
    assert info["active"] == "package" and package["kind"] == "raster" and package["tile_type"] == "png"
    assert (package["min_zoom"], package["max_zoom"]) == (9, 12) and package["tiles"] == len(built["raster"])
    assert package["url"] == f"/basemap/{{z}}/{{x}}/{{y}}.png?v={package['version']}"

    z, x, y = xuanwu_tile(nanjing, 12)
    answer = client.get(f"/basemap/{z}/{x}/{y}.png")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    assert answer.content == built["raster"][(z, x, y)]  # drawn from the tile envelope of XYZ (z, x, y)
    with sqlite3.connect(built["paths"]["raster.mbtiles"]) as db:  # stored at TMS row 2^z - 1 - y
        stored = db.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (1 << z) - 1 - y),
        ).fetchone()[0]
    assert answer.content == stored
    assert answer.headers["cache-control"] == "public, max-age=86400" and answer.headers["etag"]
    again = client.get(f"/basemap/{z}/{x}/{y}.png", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_tiles_outside_the_package_and_bad_addresses(client: TestClient, built: dict, served_dir: Path) -> None:
    imported(built["paths"]["raster.mbtiles"])
    outside = client.get("/basemap/12/0/0.png")
    assert outside.status_code == 404 and "covers zooms 9–12" in outside.json()["detail"]
    assert client.get("/basemap/5/25/13.png").status_code == 404  # below the package's zooms
    bad = client.get("/basemap/3/9/1.png")
    assert bad.status_code == 422 and "x and y run from 0 to 7" in bad.json()["detail"]
    assert client.get("/basemap/31/0/0.png").status_code == 422
    assert client.get("/basemap/3/-1/0.png").status_code == 422
    assert client.get("/basemap/3/1/1.gif").status_code == 422
    wrong = client.get("/basemap/12/3421/1651.pbf")
    assert wrong.status_code == 404 and "holds png tiles" in wrong.json()["detail"]


@pytest.mark.parametrize("name", ["vector.mbtiles", "vector.pmtiles"])
def test_vector_packages_served_gzip_encoded(
    client: TestClient, nanjing: Engine, built: dict, served_dir: Path, name: str
) -> None:
    output = imported(built["paths"][name])
    assert f"{name.split('.')[1]}, vector (pbf, gzip)" in output and "boundary, place" in output
    package = client.get("/basemap/info").json()["package"]
    assert package["kind"] == "vector" and package["layers"] == ["boundary", "place"]
    z, x, y = xuanwu_tile(nanjing, 10)
    answer = client.get(f"/basemap/{z}/{x}/{y}.pbf")  # httpx asks for gzip and decodes it
    assert answer.status_code == 200 and answer.headers["content-encoding"] == "gzip"
    assert answer.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert answer.content == built["vector"][(z, x, y)]
    places = mapbox_vector_tile.decode(answer.content)["place"]["features"]
    assert "玄武区" in {feature["properties"]["name"] for feature in places}  # the y-flip lands on 玄武区
    plain = client.get(f"/basemap/{z}/{x}/{y}.pbf", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == built["vector"][(z, x, y)]


def test_refused_files_leave_the_previous_package_served(
    client: TestClient, built: dict, served_dir: Path, tmp_path: Path
) -> None:
    imported(built["paths"]["vector.pmtiles"])
    before = client.get("/basemap/info").json()["package"]
    tile = next(iter(built["vector"]))
    pmtiles = built["paths"]["vector.pmtiles"].read_bytes()
    text_file = tmp_path / "notes.mbtiles"
    text_file.write_text("底图 basemap\n", encoding="utf-8")
    truncated = tmp_path / "truncated.pmtiles"
    truncated.write_bytes(pmtiles[: len(pmtiles) // 2])
    no_tiles_table = tmp_path / "no-tiles.mbtiles"
    with sqlite3.connect(no_tiles_table) as db:
        db.execute("CREATE TABLE metadata (name text, value text)")
    empty = tmp_path / "empty.mbtiles"
    with sqlite3.connect(empty) as db:
        db.execute("CREATE TABLE metadata (name text, value text)")
        db.execute("CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)")
    refusals = {
        text_file: "neither PMTiles nor MBTiles: expected a PMTiles v3 archive",
        truncated: "is truncated: its tile data ends at byte",
        no_tiles_table: "SQLite database without the tiles table",
        empty: "holds no tiles",
        tmp_path / "missing.pmtiles": "no such file",
    }
    for path, message in refusals.items():
        result = runner.invoke(app, ["basemap", "import", str(path)])
        assert result.exit_code == 1, result.output
        assert message in " ".join(result.output.split()), result.output
        assert client.get("/basemap/info").json()["package"] == before
        assert client.get("/basemap/{}/{}/{}.pbf".format(*tile)).content == built["vector"][tile]
    assert {p.name for p in served_dir.iterdir()} == {"basemap.json", f"{before['version']}.pmtiles"}


def test_show_and_remove(client: TestClient, built: dict, served_dir: Path) -> None:
    imported(built["paths"]["vector.mbtiles"])
    imported(built["paths"]["raster.mbtiles"])  # a second import replaces the first, whose copy is deleted
    assert len(list(served_dir.glob("*.mbtiles"))) == 1
    shown = runner.invoke(app, ["basemap", "show"])
    assert shown.exit_code == 0 and "imported package (shown first)" in shown.output and "raster (png)" in shown.output
    removed = runner.invoke(app, ["basemap", "remove"])
    assert removed.exit_code == 0 and "南京-raster.mbtiles removed" in removed.output
    assert client.get("/basemap/info").json() == {"package": None, "configured": False, "active": None}
    gone = client.get("/basemap/12/3421/1651.png")
    assert gone.status_code == 404 and "cityops basemap import" in gone.json()["detail"]
    assert "no basemap" in runner.invoke(app, ["basemap", "show"]).output


def test_a_configured_tile_server_is_the_other_choice(
    nanjing_settings: StoreSettings, built: dict, served_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://tiles.gov.nanjing.example/vec_w/{z}/{x}/{y}.png?tk=SECRET-KEY"
    service = create_app(nanjing_settings, api_settings(basemap_url=url), loop_settings=QUIET_LOOP)
    with TestClient(service, raise_server_exceptions=False) as configured:
        alone = configured.get("/basemap/info")
        assert alone.json() == {"package": None, "configured": True, "active": "configured"}
        imported(built["paths"]["raster.mbtiles"])
        both = configured.get("/basemap/info")
        assert both.json()["active"] == "package" and both.json()["configured"] is True
        assert "SECRET-KEY" not in alone.text + both.text  # the city's key stays out of a public answer
    monkeypatch.setenv("CITYOPS_BASEMAP_URL", url)
    shown = runner.invoke(app, ["basemap", "show"])
    assert "tiles.gov.nanjing.example (offered as the other basemap)" in " ".join(shown.output.split())
    assert "SECRET-KEY" not in shown.output


def test_bench_basemap_smoke(nanjing: Engine, nanjing_settings: StoreSettings, served_dir: Path) -> None:
    console = Console(record=True, width=200)
    rows = basemap_bench.run(nanjing_settings, seconds=1, clients=4, console=console)
    output = console.export_text()
    assert [row.measure for row in rows] == [
        "MBTiles png p50 / p99 (ms)",
        "PMTiles pbf p50 / p99 (ms)",
        "MBTiles png requests/s",
        "PMTiles pbf requests/s",
    ]
    assert all(row.ratio > 0 for row in rows) and "/tiles/units" in output and "cores" in output
