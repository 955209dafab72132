"""GCJ-02 / BD-09 conversion at known points (vectors published with public implementations)."""

from __future__ import annotations

import numpy as np
import pytest

from spatial.china_coords import (
    SourceCrs,
    bd09_to_gcj02,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_source_crs,
    to_wgs84,
    wgs84_to_gcj02,
)
from spatial.errors import InvalidInputError

# (wgs lon, wgs lat, gcj lon, gcj lat): eviltransform's test table (Shanghai, Shenzhen, Beijing)
# and coordtransform's example point.
WGS_GCJ = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),
]


@pytest.mark.parametrize(("lon", "lat", "gcj_lon", "gcj_lat"), WGS_GCJ)
def test_wgs84_to_gcj02_at_known_points(lon: float, lat: float, gcj_lon: float, gcj_lat: float) -> None:
    out_lon, out_lat = wgs84_to_gcj02(lon, lat)
    assert out_lon == pytest.approx(gcj_lon, abs=1e-9)
    assert out_lat == pytest.approx(gcj_lat, abs=1e-9)


@pytest.mark.parametrize(("lon", "lat", "gcj_lon", "gcj_lat"), WGS_GCJ)
def test_gcj02_to_wgs84_inverts_within_a_millimetre(lon: float, lat: float, gcj_lon: float, gcj_lat: float) -> None:
    back_lon, back_lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert back_lon == pytest.approx(lon, abs=1e-8)  # ~1 mm
    assert back_lat == pytest.approx(lat, abs=1e-8)


def test_bd09_at_known_points() -> None:
    # the published vector comes from the closed-form inverse, ~3 cm off; ours inverts exactly
    assert np.allclose(bd09_to_gcj02(116.404, 39.915), (116.39762729119315, 39.90865673957631), atol=1e-6)
    assert np.allclose(gcj02_to_bd09(*bd09_to_gcj02(116.404, 39.915)), (116.404, 39.915), atol=1e-10)
    assert np.allclose(gcj02_to_bd09(116.404, 39.915), (116.41036949371029, 39.92133699351021), atol=1e-9)
    # WGS84 → GCJ-02 → BD-09 → back to WGS84 through to_wgs84, at the Nanjing Drum Tower
    bd_lon, bd_lat = gcj02_to_bd09(*wgs84_to_gcj02(118.7775, 32.0603))
    lon, lat = to_wgs84(bd_lon, bd_lat, SourceCrs.BD09)
    assert (lon, lat) == (pytest.approx(118.7775, abs=1e-8), pytest.approx(32.0603, abs=1e-8))


def test_offset_at_nanjing_is_hundreds_of_metres_and_round_trips() -> None:
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(118.36, 119.24, 10_000), rng.uniform(31.23, 32.61, 10_000)
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    shift_m = np.hypot((g_lon - lon) * 94_000, (g_lat - lat) * 111_000)
    assert shift_m.min() > 300 and shift_m.max() < 800
    back_lon, back_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert np.abs(back_lon - lon).max() < 1e-9 and np.abs(back_lat - lat).max() < 1e-9


def test_outside_china_nothing_moves() -> None:
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert gcj02_to_wgs84(-74.0, 40.7) == (-74.0, 40.7)


def test_source_names() -> None:
    assert parse_source_crs("GCJ-02") is SourceCrs.GCJ02
    assert to_wgs84(118.8, 32.0, parse_source_crs("cgcs2000")) == (118.8, 32.0)
    with pytest.raises(InvalidInputError, match="use one of: wgs84, cgcs2000, gcj02, bd09"):
        parse_source_crs("mars")
