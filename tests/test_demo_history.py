"""The living demo: a consistent year of history, one user per role, forces that stay usable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import psycopg
import pytest
import shapely
from sqlalchemy import Engine, text

from bench.harness import bench_caller
from command.demo_users import DEMO_STREET, ensure_demo_users
from command.evaluation import By, Period, evaluate
from command.hotspot_analysis import HotspotQuery, analyse
from command.recurrence import Recurrence, detect
from command.synthetic_history import RECURRING, History, load_history
from forces.directory import load_directory
from forces.simulate import Simulation, run, simulator_wanted, walkers
from spatial.db import libpq_url
from spatial.errors import InvalidInputError
from spatial.settings import StoreSettings
from spatial.units import city_outline
from tests.conftest import add_force

PREFIX = "test-demo-history"
CASES = 1500
SETTLED = """
WITH last AS (SELECT DISTINCT ON (t.case_id) t.* FROM case_transition t JOIN case_file e ON e.id = t.case_id
              WHERE e.external_id LIKE :p ORDER BY t.case_id, t.seq DESC),
moves AS (SELECT t.case_id, max(t.at) FILTER (WHERE t.action = 'file') AS filed,
                 max(t.at) FILTER (WHERE t.action = 'dispatch') AS dispatched, count(*) AS n
          FROM case_transition t JOIN case_file e ON e.id = t.case_id WHERE e.external_id LIKE :p GROUP BY 1)
SELECT count(*) FILTER (WHERE e.state <> l.to_state) AS state,
       count(*) FILTER (WHERE e.version <> m.n - 1) AS version,
       count(*) FILTER (WHERE e.filed_at <> coalesce(m.filed, e.created_at)) AS filed,
       count(*) FILTER (WHERE e.dispatched_at IS DISTINCT FROM m.dispatched) AS dispatched,
       count(*) FILTER (WHERE e.closed_at IS DISTINCT FROM CASE WHEN l.to_state IN ('closed', 'void') THEN l.at END)
           AS closed,
       count(*) FILTER (WHERE e.deadline <> l.deadline) AS deadline,
       count(*) FILTER (WHERE e.handling_department IS DISTINCT FROM l.department) AS department,
       count(*) FILTER (WHERE k.case_id IS NULL OR (k.due_at IS NULL) <> (l.to_state IN ('closed', 'void'))) AS clock
FROM case_file e JOIN last l ON l.case_id = e.id JOIN moves m ON m.case_id = e.id
LEFT JOIN case_clock k ON k.case_id = e.id
"""


@pytest.fixture(scope="module")
def history(history_city: tuple[Engine, StoreSettings]) -> History:
    engine, settings = history_city
    return load_history(settings, engine, CASES, prefix=PREFIX, seed=5, hot_unit=DEMO_STREET)


def test_history_is_consistent(history_city: tuple[Engine, StoreSettings], history: History) -> None:
    engine, _ = history_city
    assert history.cases == CASES and history.transitions > 6 * CASES
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cityops_verify_transitions()")).scalar_one() == 0
        mismatches = conn.execute(text(SETTLED), {"p": f"{PREFIX}-%"}).mappings().one()
        states = dict(
            conn.execute(
                text("SELECT state, count(*) FROM case_file WHERE external_id LIKE :p GROUP BY 1"), {"p": f"{PREFIX}-%"}
            ).all()
        )
        actions = set(
            conn.execute(
                text(
                    "SELECT DISTINCT t.action FROM case_transition t JOIN case_file e "
                    "ON e.id = t.case_id WHERE e.external_id LIKE :p"
                ),
                {"p": f"{PREFIX}-%"},
            ).scalars()
        )
        sources = dict(
            conn.execute(
                text("SELECT source::text, count(*) FROM case_file WHERE external_id LIKE :p GROUP BY 1"),
                {"p": f"{PREFIX}-%"},
            ).all()
        )
    assert dict(mismatches) == dict.fromkeys(mismatches, 0)
    assert states["closed"] > 0.85 * CASES and states["void"] > 0
    assert {"return", "rework", "request_extension", "approve_extension", "void"} <= actions
    assert max(sources, key=sources.get) == "hotline" and len(sources) == 5


def test_loading_twice_adds_nothing(history_city: tuple[Engine, StoreSettings], history: History) -> None:
    engine, settings = history_city
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM case_transition")).scalar_one()
    again = load_history(settings, engine, CASES, prefix=PREFIX, seed=5, hot_unit=DEMO_STREET)
    with engine.connect() as conn:
        after = conn.execute(text("SELECT count(*) FROM case_transition")).scalar_one()
    assert (again.already, again.cases, again.transitions, again.batch) == (CASES, 0, 0, None)
    assert after == before


async def _evaluated(settings: StoreSettings, city: int) -> dict:
    async with await psycopg.AsyncConnection.connect(libpq_url(settings)) as conn:
        now = datetime.now(UTC)
        return await evaluate(conn, Period(city, now - timedelta(days=366), now + timedelta(hours=1), By.area))


def test_evaluation_has_results(history_city: tuple[Engine, StoreSettings], history: History) -> None:
    engine, settings = history_city
    with engine.connect() as conn:
        city = conn.execute(text("SELECT id FROM unit WHERE tier = 'city' LIMIT 1")).scalar_one()
    result = asyncio.run(_evaluated(settings, city))
    totals = {key: sum(row.get(key) or 0 for row in result["rows"]) for key in ("filed", "closed", "dispatched")}
    assert totals["filed"] > 0.9 * CASES and totals["closed"] > 0.8 * CASES and totals["dispatched"] > 0


async def _hot_and_recurring(settings: StoreSettings, district: tuple, street: int) -> tuple[list, list]:
    now = datetime.now(UTC)
    async with await psycopg.AsyncConnection.connect(libpq_url(settings)) as conn:
        query = HotspotQuery(
            district[0], district[1], bytes(district[2]), now - timedelta(days=366), now, resolution=9, permutations=99
        )
        hot = (await analyse(conn, query)).hot
        recurring = await detect(conn, Recurrence(street, times=10, days=366, resolution=10), now)
    return hot, recurring


def test_planted_places_are_hot_and_recurring(history_city: tuple[Engine, StoreSettings], history: History) -> None:
    engine, settings = history_city
    with engine.connect() as conn:
        street = conn.execute(text("SELECT id FROM unit WHERE code = :c"), {"c": DEMO_STREET}).scalar_one()
        district = conn.execute(
            text(
                "SELECT d.id, d.code, ST_AsBinary(d.geom) FROM unit s JOIN unit d "
                "ON d.id = s.ancestors[2] WHERE s.id = :s"
            ),
            {"s": street},
        ).one()
    hot, recurring = asyncio.run(_hot_and_recurring(settings, district, street))
    planted = {
        place["category_code"]: h3.str_to_int(h3.cell_to_parent(h3.int_to_str(place["cell"]), 9)) for place in recurring
    }
    assert set(planted) >= {code for code, _ in RECURRING}  # every planted place recurs
    assert set(planted.values()) & {spot.cell for spot in hot}  # and stands out as a hot spot


def test_demo_users_one_per_role(nanjing: Engine, demo_forces: Path) -> None:
    with nanjing.connect() as conn, conn.begin() as tx:
        roles = set(conn.execute(text("SELECT name FROM role")).scalars())
        existing = set(conn.execute(text("SELECT username FROM app_user WHERE username LIKE 'demo-%'")).scalars())
        made = ensure_demo_users(conn, "development", actor="tests")
        again = ensure_demo_users(conn, "development", actor="tests")
        tiers = dict(
            conn.execute(
                text(
                    "SELECT a.username, u.tier::text FROM app_user a JOIN unit u "
                    "ON u.id = a.unit_id WHERE a.username LIKE 'demo-%'"
                )
            ).all()
        )
        tx.rollback()
    assert {user.role for user in made} == roles  # a password only for a user made now (`cityops demo` made some)
    assert all(bool(user.password) == (user.username not in existing) for user in made)
    assert all(user.password is None for user in again)
    assert (
        tiers["demo-grid-worker"],
        tiers["demo-community"],
        tiers["demo-dispatcher"],
        tiers["demo-district"],
        tiers["demo-admin"],
    ) == ("grid", "community", "street", "district", "city")
    handler = next(user for user in made if user.role == "department_handler")
    assert handler.department


def test_production_refuses_demo_users(nanjing: Engine) -> None:
    with nanjing.connect() as conn, pytest.raises(InvalidInputError, match="production"):
        ensure_demo_users(conn, "production", actor="tests")


def test_fixed_post_stays_recommended_while_mobile_goes_stale(nanjing: Engine, tmp_path: Path) -> None:
    with nanjing.connect() as conn:
        grid, lon, lat = conn.execute(
            text(
                "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM unit WHERE tier "
                "= 'grid' "
                "ORDER BY code DESC LIMIT 1"
            )
        ).one()
    directory = tmp_path / "posts.csv"
    row = f"POST-TEST-1,移动泵车,equipment,{grid},drainage,{lon},{lat},true\n"
    directory.write_text("code,name,kind,unit,capabilities,lon,lat,fixed_post\n" + row, encoding="utf-8")
    load_directory(nanjing, directory, actor="tests")
    old = datetime.now(UTC) - timedelta(hours=6)
    mobile, _ = add_force(nanjing, grid, ["drainage"], "vehicle", at=(lon, lat), fixed_at=old)
    with nanjing.begin() as conn:
        conn.execute(
            text(
                "UPDATE force_position p SET fixed_at = :old FROM force f WHERE f.id = p.force_id "
                "AND f.code = 'POST-TEST-1'"
            ),
            {"old": old},
        )
        fixed = conn.execute(text("SELECT id FROM force WHERE code = 'POST-TEST-1'")).scalar_one()
        at = {"lon": lon, "lat": lat, "fresh": datetime.now(UTC) - timedelta(minutes=30)}
        own = conn.execute(text("SELECT id FROM unit WHERE code = :g"), {"g": grid}).scalar_one()
        ranked = (
            conn.execute(
                text(
                    "SELECT force_id FROM cityops_rank_forces(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :own, 20, "
                    "'{drainage}', :fresh, '12:00')"
                ),
                {**at, "own": own},
            )
            .scalars()
            .all()
        )
        passed = dict(
            conn.execute(
                text(
                    "SELECT force_id, reason FROM cityops_passed_over(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 500, "
                    "'{}', '{drainage}', :fresh, '12:00', 50)"
                ),
                at,
            ).all()
        )
    assert fixed in set(ranked) and mobile not in set(ranked)
    assert passed[mobile] == "stale_position" and passed[fixed] != "stale_position"


def test_fixed_post_needs_a_home(nanjing: Engine, tmp_path: Path) -> None:
    with nanjing.connect() as conn:
        grid = conn.execute(text("SELECT code FROM unit WHERE tier = 'grid' LIMIT 1")).scalar_one()
    directory = tmp_path / "homeless.csv"
    directory.write_text(f"code,name,kind,unit,fixed_post\nPOST-TEST-2,泵车,equipment,{grid},true\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="needs lon/lat"):
        load_directory(nanjing, directory, actor="tests")


def test_simulator_only_in_development() -> None:
    assert simulator_wanted("development") and not simulator_wanted("production")


def test_simulator_moves_a_mobile_force(nanjing: Engine, demo_forces: Path, server: str) -> None:
    with nanjing.connect() as conn:
        city = conn.execute(text("SELECT code FROM unit WHERE tier = 'city' LIMIT 1")).scalar_one()
        outline = city_outline(conn)
    sim = Simulation(walkers(nanjing, 3))
    with nanjing.connect() as conn:
        posts = conn.execute(
            text("SELECT count(*) FILTER (WHERE fixed_post) FROM force WHERE code = ANY(:c)"),
            {"c": [w.code for w in sim.walkers]},
        ).scalar_one()
        before = conn.execute(
            text("SELECT max(p.fixed_at) FROM force_position p JOIN force f ON f.id = p.force_id WHERE f.code = :c"),
            {"c": sim.walkers[0].code},
        ).scalar_one()
    tracker = bench_caller(nanjing, "test-demo-tracker", ["tracker"], city)
    traffic = run(server, tracker, tracker, sim, outline, [], reports_per_minute=0, interval_s=0.5, seconds=1.2)
    with nanjing.connect() as conn:
        after, lon, lat = conn.execute(
            text(
                "SELECT p.fixed_at, ST_X(p.geom), ST_Y(p.geom) FROM force_position p JOIN force f ON f.id = p.force_id "
                "WHERE f.code = :c"
            ),
            {"c": sim.walkers[0].code},
        ).one()
    assert traffic.fixes >= len(sim.walkers) and after > before
    assert sim.walkers and posts == 0  # fixed posts stay at home
    assert shapely.contains_xy(sim.walkers[0].area, lon, lat)


def test_fixed_post_is_back_home_when_released(nanjing: Engine, tmp_path: Path) -> None:
    with nanjing.connect() as conn:
        grid, lon, lat = conn.execute(
            text(
                "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM unit WHERE tier "
                "= 'grid' "
                "ORDER BY code LIMIT 1"
            )
        ).one()
    directory = tmp_path / "post.csv"
    row = f"POST-TEST-3,应急处置分队,team,{grid},rescue,{lon},{lat},true\n"
    directory.write_text("code,name,kind,unit,capabilities,lon,lat,fixed_post\n" + row, encoding="utf-8")
    load_directory(nanjing, directory, actor="tests")
    where = (
        "SELECT ST_X(p.geom), ST_Y(p.geom) FROM force_position p JOIN force f ON f.id = p.force_id WHERE f.code = :c"
    )
    with nanjing.begin() as conn:  # out on a job: its fixes move it
        conn.execute(text("UPDATE force SET status = 'assigned' WHERE code = 'POST-TEST-3'"))
        conn.execute(
            text(
                "UPDATE force_position p SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4326) FROM force f "
                "WHERE f.id = p.force_id AND f.code = 'POST-TEST-3'"
            ),
            {"x": lon + 0.01, "y": lat},
        )
        away = conn.execute(text(where), {"c": "POST-TEST-3"}).one()
        conn.execute(text("UPDATE force SET status = 'available' WHERE code = 'POST-TEST-3'"))
        back = conn.execute(text(where), {"c": "POST-TEST-3"}).one()
    assert away[0] == pytest.approx(lon + 0.01) and tuple(back) == pytest.approx((lon, lat))
