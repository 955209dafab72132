"""Hot spots at scale and on paper (issue 8): the Dask path over a GeoParquet archive equals the database path,
and `cityops archive` / `cityops hotspots` write the archive, GeoJSON, CSV, PNG maps and the summary."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from distributed import Client, LocalCluster
from PIL import Image
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cityops.cli import app as cli
from command.archive import export_cases
from command.historic_import import import_events
from command.hotspot_analysis import HotspotQuery, HotspotResult, analyse
from grid.scaleout import archive_counts
from spatial.db import libpq_url
from spatial.settings import StoreSettings

DISTRICT = "320104"  # 秦淮区
END = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1000)  # a window no other test files cases in
START = END - timedelta(days=12)


@pytest.fixture(scope="module")
def history(nanjing: Engine, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, bytes]:
    """1,200 cases over twelve days in the district: a cluster that starts on day 8 and an even spread."""
    with nanjing.connect() as conn:
        unit_id, wkb = conn.execute(
            text("SELECT id, ST_AsBinary(geom) FROM unit WHERE code = :c"), {"c": DISTRICT}
        ).one()
    area = shapely.from_wkb(bytes(wkb))
    rng = np.random.default_rng(5)
    west, south, east, north = area.bounds
    x, y = rng.uniform(west, east, 4000), rng.uniform(south, north, 4000)
    inside = shapely.contains_xy(area, x, y)
    spread = list(zip(x[inside], y[inside], rng.uniform(0, 12, inside.sum()), strict=True))[:900]
    cluster = [(118.7905 + dx, 32.0205 + dy, rng.uniform(8, 12)) for dx, dy in rng.normal(0, 0.003, (300, 2))]
    rows = [
        {
            "id": f"scale-{i}",
            "lon": round(lon, 6),
            "lat": round(lat, 6),
            "category": ("010101", "020102")[i % 2],
            "source": ("hotline", "grid_worker", "citizen_app")[i % 3],
            "state": "closed",
            "reported_at": (START + timedelta(days=float(day))).isoformat(),
        }
        for i, (lon, lat, day) in enumerate(spread + cluster)
    ]
    path = tmp_path_factory.mktemp("scaleout") / "scale.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    assert import_events(nanjing, path).loaded == len(rows)
    return int(unit_id), bytes(wkb)


def _analyse(
    settings: StoreSettings, query: HotspotQuery, client: Client | None = None, archive: Path | None = None
) -> HotspotResult:
    async def run() -> HotspotResult:
        async with await psycopg.AsyncConnection.connect(libpq_url(settings)) as conn:
            count = (lambda q: archive_counts(archive, q.filter, q.period, client)) if client else None
            return await analyse(conn, query, count=count)

    return asyncio.run(run())


def test_the_dask_path_equals_the_database_path(
    nanjing: Engine, nanjing_settings: StoreSettings, history: tuple[int, bytes], tmp_path: Path
) -> None:
    files = export_cases(nanjing, tmp_path, START, END, rows_per_file=250)
    assert len(files) >= 5  # several partitions, so the cluster really splits the work
    query = HotspotQuery(history[0], DISTRICT, history[1], START, END, 9, steps=3, permutations=99, seed=7)
    narrowed = HotspotQuery(
        history[0], DISTRICT, history[1], START, END, 8, ("01",), ("hotline",), steps=2, permutations=0
    )
    single = _analyse(nanjing_settings, query)
    single_narrowed = _analyse(nanjing_settings, narrowed)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        assert len(client.scheduler_info()["workers"]) == 2
        scaled = _analyse(nanjing_settings, query, client, tmp_path)
        scaled_narrowed = _analyse(nanjing_settings, narrowed, client, tmp_path)
    assert int(single.counts.sum()) == 1200 and np.array_equal(single.counts, scaled.counts)
    assert [(s.cell, s.count, s.kind) for s in single.spots] == [(s.cell, s.count, s.kind) for s in scaled.spots]
    assert np.allclose([s.z for s in single.spots], [s.z for s in scaled.spots])
    assert np.allclose([s.p for s in single.spots], [s.p for s in scaled.spots])
    assert [t.pattern for t in single.trends or ()] == [t.pattern for t in scaled.trends or ()]
    assert single.hot and "new" in {t.pattern for t in single.trends or ()}  # the late cluster shows up as new
    assert 0 < single_narrowed.counts.sum() < 1200 / 5 and np.array_equal(
        single_narrowed.counts, scaled_narrowed.counts
    )


def test_cityops_archive_and_hotspots_write_their_files(
    history: tuple[int, bytes], tmp_path: Path, env: dict[str, str]
) -> None:
    runner = CliRunner()
    archived = runner.invoke(
        cli,
        [
            "archive",
            str(tmp_path / "archive"),
            "--from",
            START.isoformat(),
            "--to",
            END.isoformat(),
            "--rows-per-file",
            "500",
        ],
    )
    assert archived.exit_code == 0, archived.output
    assert len(list((tmp_path / "archive").glob("*.parquet"))) >= 3
    out = tmp_path / "out"
    done = runner.invoke(
        cli,
        [
            "hotspots",
            "--unit",
            DISTRICT,
            "--from",
            START.isoformat(),
            "--to",
            END.isoformat(),
            "--res",
            "9",
            "--steps",
            "3",
            "--permutations",
            "99",
            "--out",
            str(out),
        ],
    )
    assert done.exit_code == 0, done.output
    assert {p.name for p in out.iterdir()} == {
        "hotspots.geojson",
        "hotspots.csv",
        "hotspots.png",
        "steps.png",
        "summary.txt",
    }
    collection = json.loads((out / "hotspots.geojson").read_text())
    assert len(collection["features"]) == collection["summary"]["cells"] and collection["summary"]["hot"] >= 1
    table = pd.read_csv(out / "hotspots.csv")
    assert len(table) == collection["summary"]["cells"] and table["count"].sum() == 1200
    assert {"step_1", "step_2", "step_3"} <= set(table.columns) and "hot" in set(table["class"])
    for png in ("hotspots.png", "steps.png"):
        with Image.open(out / png) as image:
            assert image.format == "PNG" and image.width > 600
    summary = (out / "summary.txt").read_text()
    assert "1,200 cases" in summary and "hot" in summary and "1. " in summary
    assert "1,200 cases" in done.output and "written:" in done.output
    refused = runner.invoke(cli, ["hotspots", "--unit", "999999", "--out", str(out)])
    assert refused.exit_code == 1 and "no unit" in refused.output
