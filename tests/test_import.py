"""`cityops load`: any city, any format; every bad input refused clearly with nothing written."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import orjson
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Polygon, box
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cityops.app import create_app
from cityops.cli import app as cli
from command.hotspot_analysis import PLACE
from command.users import create_api_key, create_user
from grid.load import load_file
from grid.locate import Locator
from spatial.boundary_file import ImportOptions, ParentBy
from spatial.errors import InvalidInputError, OutsideJurisdictionError, TopologyError
from spatial.settings import StoreSettings
from spatial.tiers import Tier, UnitKind, parse_tier
from web.settings import ApiSettings

# A small city far from Nanjing, with its own code scheme and only two tiers.
DISTRICTS = {"X-A": box(30.0, 10.0, 30.1, 10.2), "X-B": box(30.1, 10.0, 30.2, 10.2)}
STREETS = {
    "X-A-1": box(30.0, 10.0, 30.1, 10.1),
    "X-A-2": box(30.0, 10.1, 30.1, 10.2),
    "X-B-1": box(30.1, 10.0, 30.2, 10.2),
}


def write(
    path: Path, features: dict[str, Polygon], driver: str | None = None, crs: object = 4326, **columns: object
) -> Path:
    frame = gpd.GeoDataFrame(
        {"code": list(features), "name": [f"unit {c}" for c in features], **columns},
        geometry=list(features.values()),
        crs=crs,
    )
    frame.to_file(path, driver=driver) if driver else frame.to_file(path)
    return path


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM unit), (SELECT count(*) FROM boundary_version), "
                    "(SELECT count(*) FROM h3_cell)"
                )
            ).one()
        )  # type: ignore[return-value]


def load(engine: Engine, settings: StoreSettings, path: Path, tier: Tier, **options: object):  # type: ignore[no-untyped-def]
    return load_file(engine, path, ImportOptions(tier=tier, **options), settings)  # type: ignore[arg-type]


@pytest.fixture
def city(fresh: tuple[Engine, StoreSettings], tmp_path: Path) -> tuple[Engine, StoreSettings]:
    """The small city with its districts loaded (GeoJSON)."""
    engine, settings = fresh
    load(engine, settings, write(tmp_path / "districts.geojson", DISTRICTS), Tier.DISTRICT)
    return engine, settings


def refused(engine: Engine, error: type[Exception], match: str, call) -> None:  # type: ignore[no-untyped-def]
    before = counts(engine)
    with pytest.raises(error, match=match):
        call()
    assert counts(engine) == before, "a refused import must write nothing"


# ---- any city, any format ------------------------------------------------------------------
@pytest.mark.parametrize(("suffix", "driver"), [(".gpkg", "GPKG"), (".shp", None), (".geojson", None)])
def test_a_city_with_two_tiers_and_its_own_codes(
    city: tuple[Engine, StoreSettings], tmp_path: Path, suffix: str, driver: str | None
) -> None:
    engine, settings = city
    path = write(tmp_path / f"streets{suffix}", STREETS, driver, note=["a", None, "c"], people=[1200, None, 8])
    report = load(engine, settings, path, Tier.STREET)
    assert report.inserted == 3
    assert report.coverage and report.coverage["tier"] == "street"
    with engine.connect() as conn:
        location = Locator().locate(conn, 30.05, 10.15)
        parents = dict(conn.execute(text("SELECT u.code, p.code FROM unit u JOIN unit p ON p.id = u.parent_id")).all())
        notes = dict(conn.execute(text("SELECT code, properties->>'note' FROM unit WHERE tier = 'street'")).all())
    assert location.leaf.code == "X-A-2" and location.leaf.tier == "street"
    assert [u.code for u in location.chain] == ["X-A", "X-A-2"]
    assert parents == {"X-A-1": "X-A", "X-A-2": "X-A", "X-B-1": "X-B"}  # linked by containment
    assert notes == {"X-A-1": "a", "X-A-2": None, "X-B-1": "c"}  # attributes kept, nulls as null


def test_loading_the_same_file_twice_is_a_no_op(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    path = write(tmp_path / "streets.geojson", STREETS)
    load(engine, settings, path, Tier.STREET)
    before = counts(engine)
    assert load(engine, settings, path, Tier.STREET).skipped
    assert counts(engine) == before


def test_swapped_point_outside_gets_a_hint(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    load(engine, settings, write(tmp_path / "streets.geojson", STREETS), Tier.STREET)
    with engine.connect() as conn, pytest.raises(OutsideJurisdictionError, match="swapped"):
        Locator().locate(conn, 10.05, 30.05)


def test_cities_side_by_side(city: tuple[Engine, StoreSettings], tmp_path: Path, client: TestClient) -> None:
    engine, settings = city
    load(engine, settings, write(tmp_path / "streets.geojson", STREETS), Tier.STREET)
    with engine.begin() as conn:  # users belong to one city: this one needs its own
        create_user(conn, "small-city", unit_code="X-B-1", roles=["integration"], password=None, actor="test")
        key = create_api_key(conn, "small-city", "test", actor="test")
    other = create_app(settings, ApiSettings(_env_file=None))
    with TestClient(other, headers={"X-API-Key": key}) as small_city:
        assert small_city.get("/api/v1/locate", params={"lon": 30.15, "lat": 10.1}).json()["unit"]["code"] == "X-B-1"
        assert small_city.get("/api/v1/locate", params={"lon": 118.78, "lat": 32.04}).status_code == 422
    assert client.get("/api/v1/locate", params={"lon": 30.15, "lat": 10.1}).status_code == 422
    assert client.get("/api/v1/locate", params={"lon": 118.78, "lat": 32.04}).status_code == 200


def test_projected_file_with_its_crs_is_reprojected(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    projected = gpd.GeoSeries(list(STREETS.values()), crs=4326).to_crs(32636)
    path = write(tmp_path / "streets_utm.gpkg", dict(zip(STREETS, projected, strict=True)), "GPKG", crs=32636)
    assert load(engine, settings, path, Tier.STREET).inserted == 3


# ---- bad input: a clear message and nothing written -------------------------------------------
def test_metres_without_a_crs(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    projected = gpd.GeoSeries(list(STREETS.values()), crs=4326).to_crs(32636)
    path = write(tmp_path / "metres.geojson", dict(zip(STREETS, projected, strict=True)), crs=None)
    refused(engine, InvalidInputError, "--crs", lambda: load(engine, settings, path, Tier.STREET))
    assert load(engine, settings, path, Tier.STREET, crs="EPSG:32636").inserted == 3


def test_lat_lon_swapped_out_of_range(fresh: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = fresh
    path = write(tmp_path / "swapped.geojson", {"N": box(32.0, 118.7, 32.1, 118.8)})
    refused(engine, InvalidInputError, "swapped", lambda: load(engine, settings, path, Tier.CITY))
    assert load(engine, settings, path, Tier.CITY, swap_axes=True).inserted == 1


def test_lat_lon_swapped_within_range_is_caught_by_the_parents(
    city: tuple[Engine, StoreSettings], tmp_path: Path
) -> None:
    engine, settings = city
    swapped = {code: Polygon([(y, x) for x, y in geom.exterior.coords]) for code, geom in STREETS.items()}
    path = write(tmp_path / "swapped.geojson", swapped)
    refused(engine, TopologyError, "swapped", lambda: load(engine, settings, path, Tier.STREET))


def test_malformed_geojson(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [ {"type": "Feat')
    refused(engine, InvalidInputError, "cannot read", lambda: load(engine, settings, path, Tier.STREET))


def test_self_intersecting_polygon_rejected_or_repaired(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    bowtie = Polygon([(30.0, 10.0), (30.1, 10.2), (30.1, 10.0), (30.0, 10.2)])
    streets = {**STREETS, "X-A-1": bowtie}
    path = write(tmp_path / "bowtie.geojson", {k: v for k, v in streets.items() if k != "X-A-2"})
    refused(engine, TopologyError, "Self-intersection", lambda: load(engine, settings, path, Tier.STREET))
    fixed = write(tmp_path / "bowtie_fixed.geojson", {"X-A-1": bowtie, "X-B-1": STREETS["X-B-1"]})
    with pytest.raises(TopologyError, match="coverage_gap"):  # repaired, then the gap shows
        load(engine, settings, fixed, Tier.STREET, repair=True)


def test_repair_reports_what_it_fixed(fresh: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = fresh
    bowtie = Polygon([(30.0, 10.0), (30.1, 10.2), (30.1, 10.0), (30.0, 10.2)])
    report = load(engine, settings, write(tmp_path / "b.geojson", {"B": bowtie}), Tier.CITY, repair=True)
    assert report.inserted == 1
    assert report.warnings[0]["check"] == "repaired_geometry"


def test_child_outside_its_parent(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    spill = {**STREETS, "X-A-1": box(29.99, 10.0, 30.1, 10.1)}  # 1 km west of the city
    path = write(tmp_path / "spill.geojson", spill)
    refused(
        engine,
        TopologyError,
        r"X-A-1 reaches [\d,]+ m² outside its parent X-A",
        lambda: load(engine, settings, path, Tier.STREET),
    )


def test_overlapping_siblings(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    overlap = {**STREETS, "X-A-1": box(30.0, 10.0, 30.1, 10.12)}
    path = write(tmp_path / "overlap.geojson", overlap)
    refused(
        engine,
        TopologyError,
        r"X-A-1 and X-A-2 overlap by [\d,]+ m²",
        lambda: load(engine, settings, path, Tier.STREET),
    )


def test_gap_in_coverage(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    gap = {**STREETS, "X-A-1": box(30.0, 10.0, 30.1, 10.09)}
    path = write(tmp_path / "gap.geojson", gap)
    refused(engine, TopologyError, r"X-A: [\d,]+ m² are not covered", lambda: load(engine, settings, path, Tier.STREET))


def test_unknown_parent_code(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    path = write(tmp_path / "streets.geojson", STREETS, parent=["X-A", "X-A", "X-Z"])
    refused(engine, TopologyError, "X-Z", lambda: load(engine, settings, path, Tier.STREET, parent_column="parent"))


def test_unknown_tier() -> None:
    with pytest.raises(InvalidInputError, match="use one of: city, district"):
        parse_tier("planet")


def test_empty_and_featureless_files(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    empty = tmp_path / "empty.geojson"
    empty.write_bytes(b"")
    refused(engine, InvalidInputError, "is empty", lambda: load(engine, settings, empty, Tier.STREET))
    none = tmp_path / "none.geojson"
    none.write_text('{"type": "FeatureCollection", "features": []}')
    refused(engine, InvalidInputError, "no features", lambda: load(engine, settings, none, Tier.STREET))


def test_a_200_mb_file_is_refused_before_reading(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    huge = tmp_path / "huge.geojson"
    with huge.open("wb") as handle:
        handle.truncate(200 * 2**20)  # sparse: costs no disk
    assert huge.stat().st_size == 200 * 2**20
    refused(
        engine,
        InvalidInputError,
        "200 MB; the import limit is 150 MB",
        lambda: load(engine, settings, huge, Tier.STREET),
    )


def test_wrong_columns_duplicates_and_geometry_types(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    path = write(tmp_path / "streets.geojson", STREETS)
    refused(
        engine,
        InvalidInputError,
        "column 'id' not found",
        lambda: load(engine, settings, path, Tier.STREET, code_column="id"),
    )
    dupes = gpd.GeoDataFrame(
        {"code": ["S", "S"], "name": ["a", "b"]}, geometry=[STREETS["X-A-1"], STREETS["X-A-2"]], crs=4326
    )
    dupes.to_file(tmp_path / "dupes.geojson")
    refused(
        engine,
        InvalidInputError,
        "duplicate codes: S",
        lambda: load(engine, settings, tmp_path / "dupes.geojson", Tier.STREET),
    )
    points = gpd.GeoDataFrame({"code": ["P"], "name": ["p"]}, geometry=gpd.points_from_xy([30.05], [10.05]), crs=4326)
    points.to_file(tmp_path / "points.geojson")
    refused(
        engine,
        InvalidInputError,
        "must be Polygon or MultiPolygon, found Point",
        lambda: load(engine, settings, tmp_path / "points.geojson", Tier.STREET),
    )


def test_management_unit_needs_loaded_members(city: tuple[Engine, StoreSettings], tmp_path: Path) -> None:
    engine, settings = city
    load(engine, settings, write(tmp_path / "streets.geojson", STREETS), Tier.STREET)
    path = write(tmp_path / "area.geojson", {"X-NEW": box(30.0, 10.0, 30.1, 10.2)}, members=["X-A-1,X-Q-9"])
    refused(
        engine,
        TopologyError,
        "X-Q-9",
        lambda: load(engine, settings, path, Tier.DISTRICT, kind=UnitKind.MANAGEMENT, members_column="members"),
    )
    good = write(tmp_path / "area2.geojson", {"X-NEW": box(30.0, 10.0, 30.1, 10.2)}, members=["X-A-1,X-A-2"])
    load(engine, settings, good, Tier.DISTRICT, kind=UnitKind.MANAGEMENT, members_column="members")
    with engine.connect() as conn:
        location = Locator().locate(conn, 30.05, 10.05)
    assert location.at("district").code == "X-NEW"  # the management unit answers
    assert {u.code for u in location.chain if u.tier == "district"} == {"X-NEW", "X-A"}


# ---- units served across their parent's line (--parent-by majority) ---------------------------
def _crossing_pair(communities: gpd.GeoDataFrame) -> tuple[str, str]:
    """A community and a smaller neighbour of another street sharing an edge with it (first by code)."""
    tree_hits = communities.sindex.query(communities.geometry.values, predicate="touches")
    for left, right in sorted(zip(*tree_hits, strict=True)):
        big, small = communities.iloc[left], communities.iloc[right]
        shared = big.geometry.intersection(small.geometry)
        if big.parent_code != small.parent_code and shared.length > 0.002 and big.geometry.area > small.geometry.area:
            return big.code, small.code
    raise AssertionError("the Nanjing fixture has no two neighbouring communities of different streets")


@pytest.fixture
def crossing_city(fresh: tuple[Engine, StoreSettings], nanjing_manifest: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh Nanjing down to its streets, and a community file of two streets where one community also
    serves its neighbour's area across the street line (that neighbour's real polygon, merged in)."""
    engine, settings = fresh
    tiers = nanjing_manifest.parent
    load(engine, settings, tiers / "city.parquet", Tier.CITY)
    load(engine, settings, tiers / "district.parquet", Tier.DISTRICT, parent_column="parent_code")
    load(engine, settings, tiers / "street.parquet", Tier.STREET, parent_column="parent_code")
    communities = gpd.read_parquet(tiers / "community.parquet")
    crossing, taken = _crossing_pair(communities)
    by_code = communities.set_index("code")
    own, across = by_code.parent_code[crossing], by_code.parent_code[taken]
    picked = communities[communities.parent_code.isin([own, across]) & (communities.code != taken)].copy()
    merged = by_code.geometry[crossing].union(by_code.geometry[taken])
    assert merged.geom_type == "Polygon"  # one service area, not two pieces
    picked.loc[picked.code == crossing, "geometry"] = merged
    path = tmp_path / "communities.parquet"
    picked.drop(columns="source").to_parquet(path)
    return engine, settings, path, crossing, own, across, by_code.geometry[taken]


def test_a_unit_crossing_its_parents_line_is_refused_naming_the_flag(crossing_city) -> None:  # type: ignore[no-untyped-def]
    engine, settings, path, crossing, _own, _across, _taken = crossing_city
    refused(
        engine,
        TopologyError,
        rf"{crossing} reaches [\d,]+ m² outside its parent \d+ .*--parent-by majority",
        lambda: load(engine, settings, path, Tier.COMMUNITY),
    )


def test_parent_by_majority_accepts_the_crossing_and_reports_its_area(crossing_city) -> None:  # type: ignore[no-untyped-def]
    engine, settings, path, crossing, own, across, _taken = crossing_city
    wrong = rf"{crossing}: its parent {across} holds \d+% of its area, {own} holds \d+%; name {own}"
    refused(
        engine,
        TopologyError,
        wrong,
        lambda: load(
            engine,
            settings,
            _named(path, crossing, across),
            Tier.COMMUNITY,
            parent_column="parent_code",
            parent_by=ParentBy.MAJORITY,
        ),
    )
    report = load(engine, settings, path, Tier.COMMUNITY, parent_by=ParentBy.MAJORITY)
    assert len(report.crossings) == 1
    reported = report.crossings[0]
    assert (reported["code"], reported["parent"], reported["into"]) == (crossing, own, across)
    with engine.connect() as conn:
        postgis_m2 = conn.execute(
            text(
                "SELECT ST_Area(ST_Intersection(u.geom, s.geom)::geography) FROM unit u, unit s "
                "WHERE u.code = :unit AND s.code = :street"
            ),
            {"unit": crossing, "street": across},
        ).scalar_one()
        stored = conn.execute(
            text("SELECT report->'crossings' FROM boundary_version ORDER BY id DESC LIMIT 1")
        ).scalar()
        whole_m2 = conn.execute(
            text("SELECT ST_Area(geom::geography) FROM unit WHERE code = :c"), {"c": crossing}
        ).scalar_one()
    assert postgis_m2 > 100_000  # a real community's area, not vertex noise
    assert reported["area_m2"] == pytest.approx(postgis_m2, rel=0.01)
    assert reported["share"] == pytest.approx(postgis_m2 / whole_m2, rel=0.01)
    assert stored == report.crossings
    named = ImportOptions(tier=Tier.COMMUNITY, parent_column="parent_code", parent_by=ParentBy.MAJORITY)
    again = load_file(engine, path, named, settings, force=True)  # its street, named in the file, holds the majority
    assert again.updated == report.inserted and again.crossings == report.crossings


def _named(path: Path, code: str, parent: str) -> Path:
    """The same file with ``code``'s parent column set to ``parent``."""
    frame = gpd.read_parquet(path)
    frame.loc[frame.code == code, "parent_code"] = parent
    named = path.with_name(f"named-{parent}.parquet")
    frame.to_parquet(named)
    return named


def test_locate_on_the_crossing_part_answers_the_serving_unit_and_its_chain(crossing_city) -> None:  # type: ignore[no-untyped-def]
    engine, settings, path, crossing, own, across, taken = crossing_city
    load(engine, settings, path, Tier.COMMUNITY, parent_by=ParentBy.MAJORITY)
    point = taken.representative_point()
    with engine.connect() as conn:
        inside_across = conn.execute(
            text("SELECT ST_Covers(geom, ST_SetSRID(ST_Point(:x, :y), 4326)) FROM unit WHERE code = :c"),
            {"x": point.x, "y": point.y, "c": across},
        ).scalar_one()
        location = Locator().locate(conn, point.x, point.y)
        street_chain = conn.execute(text("SELECT chain::text FROM unit WHERE code = :c"), {"c": own}).scalar_one()
        consistent = conn.execute(
            text(
                "SELECT u.parent_id = p.id AND u.ancestors = p.ancestors || p.id FROM unit u, unit p "
                "WHERE u.code = :unit AND p.code = :street"
            ),
            {"unit": crossing, "street": own},
        ).scalar_one()
        broken = conn.execute(
            text(
                "SELECT count(*) FROM unit u JOIN unit p ON p.id = u.admin_parent_id "
                "WHERE u.ancestors <> p.ancestors || p.id AND u.kind = 'administrative' "
                "AND NOT EXISTS (SELECT 1 FROM unit m WHERE m.id = ANY(u.ancestors) AND m.kind = 'management')"
            )
        ).scalar_one()
        place = conn.exec_driver_sql(PLACE, (point.x, point.y)).scalar()  # how a hot spot there is named
        names = dict(
            conn.execute(text("SELECT code, name FROM unit WHERE code IN (:a, :b)"), {"a": own, "b": crossing}).all()
        )
    assert inside_across  # the point lies in the other street's polygon …
    assert location.leaf.code == crossing  # … and belongs to the unit whose geometry holds it
    assert location.at("street").code == own  # with that unit's own chain, not the street under the point
    assert [u.code for u in location.chain] == [u["code"] for u in orjson.loads(street_chain)] + [crossing]
    assert consistent and broken == 0
    assert place == f"{names[own]} · {names[crossing]}"


def test_the_cli_prints_each_crossing_with_its_area(crossing_city, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    engine, settings, path, crossing, own, across, _taken = crossing_city
    for key, value in {
        "CITYOPS_DATA_DIR": str(settings.data_dir),
        "CITYOPS_CITY": settings.city,
        "CITYOPS_DB_PORT": str(settings.db_port),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CITYOPS_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    wrong = CliRunner().invoke(cli, ["load", "boundaries", str(path), "--tier", "community", "--parent-by", "largest"])
    assert wrong.exit_code == 1 and "--parent-by must be containment or majority" in wrong.output
    refused = CliRunner().invoke(cli, ["load", "boundaries", str(path), "--tier", "community"])
    assert refused.exit_code == 1 and "--parent-by majority" in refused.output
    loaded = CliRunner().invoke(
        cli, ["load", "boundaries", str(path), "--tier", "community", "--parent-by", "majority"]
    )
    assert loaded.exit_code == 0, loaded.output
    with engine.connect() as conn:
        crossing_m2 = conn.execute(
            text("SELECT (report->'crossings'->0->>'area_m2')::float8 FROM boundary_version ORDER BY id DESC LIMIT 1")
        ).scalar_one()
    row = next(line for line in loaded.stdout.splitlines() if crossing in line)
    assert crossing_m2 > 100_000 and {own, across, f"{crossing_m2:,.0f}"} <= set(row.replace("│", " ").split())
