"""Historic import: every valid row loaded and routed as live intake would, the rest rejected with reasons."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cityops.cli import app
from command.historic_import import import_events
from command.routing import Severity, route
from command.taxonomy import CATEGORY_SQL, category_from_row
from command.working_time import WorkingCalendar
from grid.locate import Locator
from spatial.china_coords import SourceCrs, wgs84_to_gcj02
from spatial.errors import InvalidInputError

CALENDAR = WorkingCalendar.china()
FIELDS = [
    "id",
    "lon",
    "lat",
    "category",
    "severity",
    "source",
    "reported_at",
    "description",
    "address",
    "state",
    "closed_at",
]
# (what is wrong, how the row is spoiled, the reason the reject file must give)
BAD_ROWS = [
    ("lon", {"lon": "东经118"}, "lon/lat missing or not a number"),
    ("category", {"category": "999999"}, "unknown category 999999"),
    ("outside", {"lon": "121.47", "lat": "31.23"}, "outside the city's grids"),
    ("time", {"reported_at": "yesterday"}, "reported_at is not an ISO 8601 time"),
    ("future", {"reported_at": "2099-01-01T00:00:00+08:00"}, "reported_at is in the future"),
    ("severity", {"severity": "V"}, "severity is not IV, III, II or I"),
    ("source", {"source": "pigeon"}, "source is not one of"),
    ("state", {"state": "lost"}, "state is not reported or closed"),
    ("closed", {"closed_at": "2025-01-01T00:00:00+08:00"}, "closed_at is before reported_at"),
    ("long", {"description": "长" * 4001}, "description over 4,000 characters"),
]


POINTS_SQL = """
SELECT ST_X(p.geom), ST_Y(p.geom)
FROM ST_Dump(ST_GeneratePoints((SELECT geom FROM unit WHERE tier = 'city'), :n, :seed)) AS p
"""
BATCH_SQL = """
SELECT e.external_id, ST_X(e.geom), ST_Y(e.geom), e.category_code, e.severity::text, u.code, e.deadline,
       e.filed_at, e.routing_trace, e.cell, e.departments, e.state, e.source::text, e.description
FROM case_file e JOIN unit u ON u.id = e.responsible_unit_id WHERE e.import_batch_id = :b ORDER BY e.external_id
"""


def points_inside(engine: Engine, count: int, seed: int) -> list[tuple[float, float]]:
    """Random points inside Nanjing, drawn by PostGIS itself."""
    with engine.connect() as conn:
        rows = conn.execute(text(POINTS_SQL), {"n": count, "seed": seed}).all()
    return [(round(x, 6), round(y, 6)) for x, y in rows]


def write_events(path: Path, engine: Engine, prefix: str, count: int = 120, seed: int = 3) -> list[dict[str, str]]:
    """A realistic file: categories and severities cycle, times span holidays; the bad rows are appended."""
    with engine.connect() as conn:
        codes = [row[0] for row in conn.execute(text("SELECT code FROM category ORDER BY code"))]
    rows = [
        {
            "id": f"{prefix}-{i}",
            "lon": str(lon),
            "lat": str(lat),
            "category": codes[i % len(codes)],
            "severity": ["IV", "III", "一般", "II"][i % 4],
            "source": ["hotline", "grid_worker", "sensor"][i % 3],
            "reported_at": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{8 + i % 12:02d}:15:00"
            + ("+08:00" if i % 2 else ""),
            "description": f"历史工单 {i}" if i % 5 else "",
            "address": "中山路" if i % 7 == 0 else "",
            "state": "closed",
            "closed_at": "",
        }
        for i, (lon, lat) in enumerate(points_inside(engine, count, seed))
    ]
    template = rows[0]
    rows += [{**template, "id": f"{prefix}-bad-{name}", **spoil} for name, spoil, _ in BAD_ROWS]
    rows.append({**rows[1]})  # the same id twice
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def batch_rows(engine: Engine, batch_id: int) -> list:
    with engine.connect() as conn:
        return conn.execute(text(BATCH_SQL), {"b": batch_id}).all()


def test_valid_rows_load_and_bad_rows_are_rejected_with_reasons(nanjing: Engine, tmp_path: Path) -> None:
    source = tmp_path / "events.csv"
    written = write_events(source, nanjing, "t1")
    result = import_events(nanjing, source)
    assert (result.rows_read, result.loaded, result.rejected) == (len(written), 120, len(BAD_ROWS) + 1)
    with result.rejects_path.open(encoding="utf-8") as handle:  # type: ignore[union-attr]
        rejects = {row["id"]: row for row in csv.DictReader(handle)}
    for name, _, reason in BAD_ROWS:
        assert rejects[f"t1-bad-{name}"]["reason"].startswith(reason), rejects[f"t1-bad-{name}"]
    duplicate = [r for r in rejects.values() if r["id"] == "t1-1"]
    assert duplicate[0]["reason"] == "id repeats an earlier row of the file"
    assert duplicate[0]["line"] == str(len(written) + 1)  # the header is line 1
    loaded = batch_rows(nanjing, result.batch_id)
    assert len(loaded) == 120 and {row[11] for row in loaded} == {"closed"}
    by_id = {row[0]: row for row in loaded}
    assert by_id["t1-0"][13] == "上水井盖" and by_id["t1-1"][13] == "历史工单 1"  # empty: the category's name
    with nanjing.connect() as conn:
        batch = conn.execute(
            text("SELECT rows_read, rows_loaded, rows_rejected FROM import_batch WHERE id = :b"), {"b": result.batch_id}
        ).one()
    assert tuple(batch) == (len(written), 120, len(BAD_ROWS) + 1)


def test_imported_events_are_routed_exactly_as_live_intake_would(nanjing: Engine, tmp_path: Path) -> None:
    source = tmp_path / "routed.csv"
    write_events(source, nanjing, "t2", count=60, seed=11)
    result = import_events(nanjing, source)
    locator = Locator()
    with nanjing.connect() as conn:
        categories = {}
        for row in batch_rows(nanjing, result.batch_id):
            external_id, lon, lat, code, severity, unit_code, deadline, filed, trace, cell, departments, *_ = row
            if code not in categories:
                raw = conn.connection.driver_connection.execute(CATEGORY_SQL, (code,)).fetchone()
                categories[code] = category_from_row(raw)
            location = locator.locate(conn, lon, lat)
            expected = route(location, categories[code], Severity(severity), filed, CALENDAR)
            assert unit_code == expected.unit.code, external_id
            assert deadline == expected.deadline, (external_id, categories[code].limit)
            assert trace["rule"] == expected.trace["rule"] and trace["index"] == expected.trace["index"]
            assert trace["cell"] == location.cell == f"{cell:x}" and trace["import_batch"] == result.batch_id
            assert tuple(departments) == categories[code].departments


def test_a_second_import_of_the_same_file_adds_nothing(nanjing: Engine, tmp_path: Path) -> None:
    source = tmp_path / "twice.csv"
    write_events(source, nanjing, "t3", count=30, seed=5)
    first = import_events(nanjing, source)
    again = import_events(nanjing, source)
    assert first.loaded == 30 and again.loaded == 0 and again.rejected == first.rows_read
    with again.rejects_path.open(encoding="utf-8") as handle:  # type: ignore[union-attr]
        reasons = [row["reason"] for row in csv.DictReader(handle)]
    assert reasons.count("already imported (same id)") == 30


def test_bulk_mode_rebuilds_every_index_and_key(nanjing: Engine, tmp_path: Path) -> None:
    schema = (
        "SELECT (SELECT count(*) FROM pg_indexes WHERE tablename = 'case_file'), "
        "(SELECT count(*) FROM pg_constraint WHERE conrelid = 'case_file'::regclass)"
    )
    with nanjing.connect() as conn:
        before = conn.execute(text(schema)).one()
    source = tmp_path / "bulk.csv"
    write_events(source, nanjing, "t4", count=40, seed=9)
    result = import_events(nanjing, source, bulk=True)
    assert result.bulk and result.loaded == 40
    with nanjing.connect() as conn:
        assert conn.execute(text(schema)).one() == before
        count = conn.execute(text("SELECT count(*) FROM case_file WHERE import_batch_id = :b"), {"b": result.batch_id})
        assert count.scalar() == 40


def test_geojson_with_gcj02_positions(nanjing: Engine, tmp_path: Path) -> None:
    points = points_inside(nanjing, 10, 21)
    features = []
    for i, (lon, lat) in enumerate(points):
        gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
        point = {"type": "Point", "coordinates": [float(gcj_lon), float(gcj_lat)]}
        properties = {"id": f"t5-{i}", "category": "020104", "reported_at": "2025-06-03T10:00:00+08:00"}
        features.append({"type": "Feature", "geometry": point, "properties": properties})
    source = tmp_path / "events.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    result = import_events(nanjing, source, crs=SourceCrs.GCJ02)
    assert result.loaded == 10
    stored = {row[0]: (row[1], row[2]) for row in batch_rows(nanjing, result.batch_id)}
    for i, (lon, lat) in enumerate(points):
        assert stored[f"t5-{i}"] == pytest.approx((lon, lat), abs=1e-6)  # back to WGS84 within 0.1 m


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("lon,lat,category\n118.8,32.0,020104\n", "missing column(s) ['reported_at']"),
        ("lon,lat,category,reported_at,colour\n", "unknown column(s) ['colour']"),
    ],
)
def test_files_of_the_wrong_shape_are_refused_whole(nanjing: Engine, tmp_path: Path, content: str, says: str) -> None:
    source = tmp_path / "shape.csv"
    source.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInputError, match=re.escape(says)):
        import_events(nanjing, source)


def test_the_cli_imports_with_a_progress_bar(nanjing: Engine, nanjing_settings, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for key, value in {
        "CITYOPS_DATA_DIR": str(nanjing_settings.data_dir),
        "CITYOPS_CITY": "nanjing",
        "CITYOPS_DB_PORT": str(nanjing_settings.db_port),
    }.items():
        monkeypatch.setenv(key, value)
    source = tmp_path / "cli.csv"
    write_events(source, nanjing, "t6", count=20, seed=13)
    result = CliRunner().invoke(app, ["load", "events", str(source)])
    assert result.exit_code == 0, result.stdout
    assert "20 of 31 events loaded and routed, 11 rejected" in result.stdout and "cli.rejects.csv" in result.stdout


def test_deadlines_outside_the_covered_years_are_counted_in_the_summary(
    nanjing: Engine,
    nanjing_settings,
    tmp_path: Path,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """2003 precedes the holiday data (2004 on): its working-time deadlines are counted Monday–Friday and
    reported; its urgent-hours ones and a covered year's are not."""
    places = points_inside(nanjing, 7, 31)
    plan = (
        [("020105", "2003-10-01T10:00:00+08:00")] * 3
        + [("010101", "2003-10-01T10:00:00+08:00")] * 2
        + [("020105", "2024-09-30T10:00:00+08:00")] * 2
    )  # 乱涂写乱张贴 1 working day; 上水井盖 2 urgent hours
    rows = [
        {"id": f"t7-{i}", "lon": str(lon), "lat": str(lat), "category": code, "reported_at": reported}
        for i, ((code, reported), (lon, lat)) in enumerate(zip(plan, places, strict=True))
    ]
    source = tmp_path / "old.csv"
    pd.DataFrame(rows).to_csv(source, index=False)
    result = import_events(nanjing, source)
    assert result.loaded == 7 and result.uncovered_deadlines == 3 and result.uncovered_years == (2003,)
    due = {row[0]: row[6] for row in batch_rows(nanjing, result.batch_id)}
    beijing = CALENDAR.zone
    # Wednesday 1 October 2003 10:00 + 7 working hours, Monday–Friday assumed: 6 h that day, 1 h on Thursday
    assert due["t7-0"] == datetime(2003, 10, 2, 10, tzinfo=beijing)
    assert due["t7-3"] == datetime(2003, 10, 1, 12, tzinfo=beijing)  # urgent hours: the clock
    assert due["t7-5"] == datetime(2024, 10, 8, 10, tzinfo=beijing)  # 6 h on 30 September, National Day, 1 h
    for key, value in {
        "CITYOPS_DATA_DIR": str(nanjing_settings.data_dir),
        "CITYOPS_CITY": "nanjing",
        "CITYOPS_DB_PORT": str(nanjing_settings.db_port),
    }.items():
        monkeypatch.setenv(key, value)
    pd.DataFrame([{**row, "id": row["id"].replace("t7", "t8")} for row in rows]).to_csv(source, index=False)
    said = CliRunner().invoke(app, ["load", "events", str(source)])
    assert said.exit_code == 0, said.output
    assert "3 deadlines ran through years the holiday calendar does not cover (2003)" in said.output
