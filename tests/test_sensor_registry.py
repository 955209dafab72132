"""The sensor registry file: every row checked, nothing written while a problem remains; moves and retirements."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from sensing.registry import load_registry
from spatial.errors import InvalidInputError
from tests.conftest import grid_point

HEADER = "code,kind,name,lon,lat,unit,department,asset,state\n"


def write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def test_a_registry_with_problems_writes_nothing_and_a_good_one_is_loaded_moved_and_retired(
    nanjing: Engine, tmp_path: Path
) -> None:
    lon, lat = grid_point(nanjing, "320104", 11)
    tag = uuid.uuid4().hex[:6].upper()
    good = [
        f"WL-{tag}-1,water_level,秦淮河水位站 1,{lon},{lat},,水务局,秦淮河中华门段,active",
        f"GS-{tag}-1,gas,燃气监测 1,{lon + 0.0005},{lat},,燃气集团,老城南管网,active",
        f"MH-{tag}-1,manhole_tilt,井盖监测 1,{lon},{lat + 0.0005},,水务局,,maintenance",
    ]
    bad = [
        f"WL-{tag}-1,water_level,重复的编码,{lon},{lat},,,,",  # the code again
        f"XX-{tag}-1,volcano,火山监测,{lon},{lat},,,,",  # no such kind
        f"FAR-{tag}-1,gas,上海某处,121.47,31.23,,,,",  # outside the city
        f"NO-{tag}-1,gas,没有坐标,,,,,,",
    ]
    with pytest.raises(InvalidInputError) as refused:
        load_registry(nanjing, write(tmp_path / "bad.csv", good + bad), actor="tests")
    said = str(refused.value)
    assert "nothing was written" in said and "appears twice" in said and "volcano" in said and "lon and lat" in said
    with nanjing.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM sensor WHERE code LIKE :t"), {"t": f"%-{tag}-%"}).scalar_one() == 0
        )
    with pytest.raises(
        InvalidInputError, match="outside the city's grids"
    ):  # judged by the database, once the rest pass
        load_registry(nanjing, write(tmp_path / "far.csv", [*good, bad[2]]), actor="tests")

    loaded = load_registry(nanjing, write(tmp_path / "good.csv", good), actor="tests")
    assert (loaded.inserted, loaded.updated) == (3, 0)
    with nanjing.begin() as conn:
        owner = conn.execute(
            text("SELECT u.code FROM sensor s JOIN unit u ON u.id = s.unit_id WHERE s.code = :c"), {"c": f"WL-{tag}-1"}
        ).scalar_one()
        assert owner.startswith("320104")  # the grid the point lies in
        conn.execute(
            text(
                "INSERT INTO sensor_alarm (rule_id, sensor_id, kind, geom, units, raised_at) "
                "SELECT r.id, s.id, s.kind, s.geom, s.units, now() FROM sensor s JOIN sensor_rule r "
                "ON r.kind = s.kind AND r.rule = 'threshold' AND r.sensor_id IS NULL WHERE s.code IN (:a, :b)"
            ),
            {"a": f"WL-{tag}-1", "b": f"GS-{tag}-1"},
        )
    moved = [good[0].replace(f",{lat},", f",{lat + 0.001},"), good[1].replace(",active", ",retired"), good[2]]
    again = load_registry(nanjing, write(tmp_path / "again.csv", moved), actor="tests")
    assert (again.inserted, again.updated) == (0, 2)  # the unchanged row is not touched
    with nanjing.connect() as conn:
        reasons = dict(
            conn.execute(
                text(
                    "SELECT s.code, a.close_reason FROM sensor_alarm a JOIN sensor s ON s.id = a.sensor_id "
                    "WHERE s.code IN (:a, :b) AND a.state = 'closed'"
                ),
                {"a": f"WL-{tag}-1", "b": f"GS-{tag}-1"},
            ).all()
        )
    assert reasons == {f"WL-{tag}-1": "sensor_moved", f"GS-{tag}-1": "sensor_retired"}
