"""The shipped Nanjing demo: real districts, every street and community, tiers tiling exactly."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from fixtures.geo import generate_nanjing
from spatial.measure import areas_m2
from spatial.topology import CheckContext, check_gaps, check_inside_parents, check_sibling_overlaps

SOURCE = Path(generate_nanjing.__file__).parent / "nanjing" / "source"
STRICT = CheckContext(tolerance_m2=1.0)


@pytest.fixture(scope="module")
def tiers(nanjing_manifest: Path) -> dict[str, gpd.GeoDataFrame]:
    return {p.stem: gpd.read_parquet(p) for p in nanjing_manifest.parent.glob("*.parquet")}


def test_every_real_unit_is_there(tiers: dict[str, gpd.GeoDataFrame]) -> None:
    streets = pd.read_csv(SOURCE / "nanjing_streets.csv", dtype=str)
    communities = pd.read_csv(SOURCE / "nanjing_communities.csv", dtype=str)
    assert len(tiers["district"]) == 11
    assert set(tiers["street"].code) == set(streets.code)
    assert set(tiers["community"].code) == set(communities.code)
    assert 8_000 <= len(tiers["grid"]) <= 12_000


def test_codes_follow_the_scheme(tiers: dict[str, gpd.GeoDataFrame]) -> None:
    grids, buildings = tiers["grid"], tiers["building"]
    assert grids.code.str.fullmatch(r"\d{14}").all()
    assert (grids.code.str[:12] == grids.parent_code).all()
    assert buildings.code.str.fullmatch(r"\d{19}").all()
    assert (buildings.code.str[:14] == buildings.parent_code).all()
    assert set(buildings.code.str[:6]) == generate_nanjing.CENTRAL_DISTRICTS


def test_generated_features_say_they_are_synthetic(tiers: dict[str, gpd.GeoDataFrame]) -> None:
    assert not tiers["district"].synthetic.any()
    for tier in ("street", "community", "grid", "building", "jiangbei"):
        assert tiers[tier].synthetic.all(), tier
        assert tiers[tier].source.str.contains("synthetic").all(), tier


@pytest.mark.parametrize(
    ("child", "parent"), [("district", "city"), ("street", "district"), ("community", "street"), ("grid", "community")]
)
def test_tiers_tile_their_parents_exactly(tiers: dict[str, gpd.GeoDataFrame], child: str, parent: str) -> None:
    children, parents = tiers[child], tiers[parent]
    assert children.is_valid.all()
    assert check_inside_parents(children, parents, STRICT) == []
    assert check_sibling_overlaps(children, STRICT) == []
    assert check_gaps(children, parents, STRICT) == []


def test_buildings_sit_inside_their_grid_without_overlapping(tiers: dict[str, gpd.GeoDataFrame]) -> None:
    buildings = tiers["building"]
    assert len(buildings) > 10_000
    assert check_inside_parents(buildings, tiers["grid"], STRICT) == []
    assert check_sibling_overlaps(buildings, STRICT) == []


def test_grids_are_smaller_downtown(tiers: dict[str, gpd.GeoDataFrame]) -> None:
    grids = tiers["grid"]
    area = pd.Series(areas_m2(grids.geometry.values), index=grids.index)
    core = area[grids.code.str[:6].isin(generate_nanjing.CENTRAL_DISTRICTS)].median()
    rural = area[grids.code.str[:6].isin({"320117", "320118"})].median()  # 溧水, 高淳
    assert core * 5 < rural


def test_streets_sit_near_their_real_bounding_boxes(tiers: dict[str, gpd.GeoDataFrame]) -> None:
    boxes = pd.read_csv(
        SOURCE / "nanjing_street_bboxes_sizhi.csv", dtype={"code": str, "bbox_in_parent_district": "boolean"}
    )
    plausible = boxes[boxes.bbox_in_parent_district.fillna(False)].set_index("code")
    streets = tiers["street"].set_index("code").loc[plausible.index]
    centres = shapely.points((plausible.minx + plausible.maxx) / 2, (plausible.miny + plausible.maxy) / 2)
    distance = shapely.distance(streets.geometry.values, centres)
    assert np.mean(distance == 0) > 0.8  # most seeds kept their street on its real centre


def test_jiangbei_manages_its_seven_streets(tiers: dict[str, gpd.GeoDataFrame]) -> None:
    jiangbei = tiers["jiangbei"].iloc[0]
    members = jiangbei.members.split(",")
    names = set(tiers["street"].set_index("code").loc[members].name)
    assert names == set(generate_nanjing.JIANGBEI_STREETS)
    assert {code[:6] for code in members} == {"320111", "320116"}  # 浦口 and 六合


def test_generation_is_deterministic(tiers: dict[str, gpd.GeoDataFrame], tmp_path: Path) -> None:
    rebuilt = generate_nanjing.build()
    for tier in ("street", "community", "grid", "building"):
        again = rebuilt[tier].reset_index(drop=True)
        first = tiers[tier].reset_index(drop=True)
        assert list(again.code) == list(first.code), tier
        assert shapely.equals_exact(again.geometry.values, first.geometry.values, tolerance=1e-12).all(), tier
