"""OGC API - Features contract (issue 7): landing, conformance, collections, items, paging, filters, errors;
Part 2, CRS by reference (issue 19.10): CRS84, EPSG:4326, EPSG:4490 (CGCS2000), EPSG:3857."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod, Transformer
from shapely.geometry import box, shape
from sqlalchemy import Engine, text

from tests.conftest import Caller, add_force, void_open_cases

CATEGORY = "010101"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
WGS84_LATLON, CGCS2000, WEB_MERCATOR = EPSG + "4326", EPSG + "4490", EPSG + "3857"
WGS84 = Geod(ellps="WGS84")


def refs(document: Any) -> list[str]:
    """Every $ref in a JSON document."""
    if isinstance(document, dict):
        return [v for k, v in document.items() if k == "$ref"] + [r for v in document.values() for r in refs(v)]
    if isinstance(document, list):
        return [r for v in document for r in refs(v)]
    return []


def test_landing_conformance_and_an_openapi_document_that_needs_no_network(anonymous: TestClient) -> None:
    landing = anonymous.get("/ogc")
    assert landing.status_code == 200 and landing.headers["content-type"].startswith("application/json")
    links = {link["rel"]: link for link in landing.json()["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= links.keys()
    description = anonymous.get(links["service-desc"]["href"])
    assert description.status_code == 200 and description.json()["openapi"].startswith("3.")
    assert "/ogc/collections/{collection_id}/items" in description.json()["paths"]
    assert all(ref.startswith("#/") for ref in refs(description.json()))  # no remote schema anywhere
    declared = ".".join(description.json()["openapi"].split(".")[:2])
    assert links["service-desc"]["type"] == f"application/vnd.oai.openapi+json;version={declared}"
    conforms = anonymous.get(links["conformance"]["href"]).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conforms  # issue 19.10: Part 2
    assert not [c for c in conforms if c.endswith("/oas30")] or declared == "3.0"  # issue 19.10: what is served
    slashed = anonymous.get("/ogc/", follow_redirects=False)  # issue 19.10: was a 307 with an empty body
    assert slashed.status_code == 200 and slashed.json()["links"] == landing.json()["links"]


def test_collections_describe_units_per_tier_cases_and_forces(anonymous: TestClient) -> None:
    body = anonymous.get("/ogc/collections").json()
    ids = [c["id"] for c in body["collections"]]
    assert ids[:6] == [
        "units-city",
        "units-district",
        "units-street",
        "units-community",
        "units-grid",
        "units-building",
    ] and {"cases", "forces"} <= set(ids)
    offered = {CRS84, WGS84_LATLON, CGCS2000, WEB_MERCATOR}
    assert set(body["crs"]) == offered  # Part 2's list for every collection
    for collection in body["collections"]:
        assert collection["itemType"] == "feature"
        assert set(collection["crs"]) == offered and collection["storageCrs"] == CRS84  # SRID 4326, lon first
        west, south, east, north = collection["extent"]["spatial"]["bbox"][0]
        assert 118 < west < east < 120 and 31 < south < north < 33
        assert any(link["rel"] == "items" for link in collection["links"])
    one = anonymous.get("/ogc/collections/units-grid")
    assert one.status_code == 200 and one.json()["id"] == "units-grid"
    assert anonymous.get("/ogc/collections/roads").status_code == 404


def test_items_page_by_offset_through_every_feature_exactly_once(anonymous: TestClient, nanjing: Engine) -> None:
    with nanjing.connect() as conn:
        districts = set(conn.execute(text("SELECT code FROM unit WHERE tier = 'district'")).scalars())
    first = anonymous.get("/ogc/collections/units-district/items", params={"limit": 5})
    assert first.status_code == 200 and first.headers["content-type"] == "application/geo+json"
    assert first.json()["numberMatched"] == len(districts) and first.json()["numberReturned"] == 5
    seen, page = [], first.json()
    while True:
        seen += [feature["id"] for feature in page["features"]]
        links = {link["rel"]: link["href"] for link in page["links"]}
        if "next" not in links:
            break
        page = anonymous.get(links["next"]).json()
        assert "prev" in {link["rel"] for link in page["links"]}
    assert sorted(seen) == sorted(districts) and len(seen) == len(set(seen))
    default = anonymous.get("/ogc/collections/units-grid/items").json()
    assert default["numberReturned"] == 10 and "timeStamp" in default
    capped = anonymous.get("/ogc/collections/units-grid/items", params={"limit": 20000}).json()
    assert capped["numberReturned"] == min(10_000, capped["numberMatched"])


def test_bbox_and_queryables_narrow_items(anonymous: TestClient) -> None:
    area = (118.78, 32.04, 118.80, 32.06)
    found = anonymous.get(
        "/ogc/collections/units-grid/items", params={"bbox": ",".join(map(str, area)), "limit": 1000}
    ).json()
    assert 0 < found["numberReturned"] == found["numberMatched"]
    assert all(shape(f["geometry"]).intersects(box(*area)) for f in found["features"])
    three_d = anonymous.get(
        "/ogc/collections/units-grid/items", params={"bbox": "118.78,32.04,0,118.80,32.06,100", "limit": 1000}
    ).json()
    assert three_d["numberMatched"] == found["numberMatched"]
    code = found["features"][0]["id"]
    single = anonymous.get("/ogc/collections/units-grid/items", params={"code": code}).json()
    assert [f["id"] for f in single["features"]] == [code]
    item = anonymous.get(f"/ogc/collections/units-grid/items/{code}")
    assert item.status_code == 200 and item.json()["properties"]["tier"] == "grid"
    assert {link["rel"] for link in item.json()["links"]} == {"self", "collection"}
    assert anonymous.get("/ogc/collections/units-grid/items/NOSUCH").status_code == 404


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"colour": "red"}, "unknown query parameter colour"),
        ({"bbox": "1,2,3"}, "bbox needs 4 numbers"),
        ({"bbox": "118.9,32,118.8,32.1"}, "minimum must not exceed maximum"),
        ({"limit": "0"}, "limit must be a whole number ≥ 1"),
        ({"limit": "ten"}, "limit must be a whole number"),
        ({"offset": "-1"}, "offset must be a whole number ≥ 0"),
        ({"datetime": "yesterday"}, "not an RFC 3339 date-time"),
        ({"datetime": "2026-11-27T08:00:00"}, "needs a time zone"),
        ({"datetime": "2026-11-28T00:00:00Z/2026-11-27T00:00:00Z"}, "start is after its end"),
        ({"f": "html"}, "only json"),
        ({"state": "open"}, "unknown query parameter state"),  # a queryable of cases, not of units
        ({"crs": "EPSG:3857"}, f"crs: 'EPSG:3857' is not offered; use one of {CRS84}"),  # a URI, not a code
        ({"crs": EPSG + "4214"}, f"{CGCS2000}, {WEB_MERCATOR}"),  # Beijing 1954: not offered
        ({"bbox-crs": EPSG + "32650", "bbox": "1,2,3,4"}, "bbox-crs: 'http://www.opengis.net/def/crs/EPSG/0/32650'"),
        ({"bbox-crs": WGS84_LATLON, "bbox": "118.78,32.04,118.80,32.06"}, "lat=118.78 is outside -90…90"),
        ({"bbox-crs": WGS84_LATLON, "bbox": "32.04,118.78,32.06"}, "bbox needs 4 numbers minLat,minLon,maxLat,maxLon"),
        ({"bbox-crs": WEB_MERCATOR, "bbox": "13e6,3.7e6,3e7,3.8e6"}, "x=30000000.0 is outside"),
    ],
)
def test_malformed_queries_are_400_with_what_to_fix(
    anonymous: TestClient, params: dict[str, str], message: str
) -> None:
    answer = anonymous.get("/ogc/collections/units-grid/items", params=params)
    assert answer.status_code == 400 and message in answer.json()["detail"], answer.text
    assert anonymous.get("/ogc/conformance", params={"x": "1"}).status_code == 400


def test_cases_and_forces_are_the_callers_jurisdiction_with_datetime_on_their_times(
    client: TestClient, anonymous: TestClient, caller: Caller, nanjing: Engine
) -> None:
    lon, lat = 118.80 + random.uniform(-0.005, 0.005), 32.06 + random.uniform(-0.005, 0.005)
    void_open_cases(nanjing, "ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 600)", {"x": lon, "y": lat})
    before = datetime.now(UTC) - timedelta(seconds=1)
    answer = client.post(
        "/api/v1/reports",
        json={"lon": lon, "lat": lat, "category": CATEGORY, "source": "hotline", "description": "井盖缺失"},
    )
    case_id = str(answer.json()["case_id"])
    xuanwu, jiangning = caller(["district"], "320102"), caller(["district"], "320115")
    since = {"datetime": f"{before.isoformat()}/..", "limit": 1000, "state": "reported"}
    recent = client.get("/ogc/collections/cases/items", headers=xuanwu, params=since)
    assert recent.status_code == 200 and case_id in [f["id"] for f in recent.json()["features"]]
    assert all(f["properties"]["state"] == "reported" for f in recent.json()["features"])
    earlier = client.get(
        "/ogc/collections/cases/items", headers=xuanwu, params={"datetime": f"../{before.isoformat()}", "limit": 1000}
    ).json()
    assert case_id not in [f["id"] for f in earlier["features"]]
    assert client.get(f"/ogc/collections/cases/items/{case_id}", headers=xuanwu).status_code == 200
    assert client.get(f"/ogc/collections/cases/items/{case_id}", headers=jiangning).status_code == 404
    assert anonymous.get("/ogc/collections/cases/items").status_code == 401
    force_id, _ = add_force(nanjing, "320102002", ["drainage"], at=(lon, lat))
    forces = client.get(
        "/ogc/collections/forces/items",
        headers=xuanwu,
        params={"bbox": f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"},
    ).json()
    assert str(force_id) in [f["id"] for f in forces["features"]]
    assert "contact" not in forces["features"][0]["properties"]
    worker = caller(["grid_worker"], "320102002")
    assert client.get("/ogc/collections/forces/items", headers=worker).status_code == 403
    assert client.get(f"/ogc/collections/forces/items/{force_id}", headers=jiangning).status_code == 404


def stored_points(nanjing: Engine, sql: str, key: str) -> list[tuple[float, float]]:
    """The stored coordinates (SRID 4326, lon first) of one geometry, vertex by vertex in GeoJSON's order."""
    with nanjing.connect() as conn:
        rows = conn.execute(
            text(f"SELECT ST_X(d.geom), ST_Y(d.geom) FROM ({sql}) g, ST_DumpPoints(g.geom) d ORDER BY d.path"),
            {"key": key},
        ).all()
    return [(x, y) for x, y in rows]


def positions(geometry: dict[str, Any]) -> list[tuple[float, float]]:
    """Every position of a GeoJSON geometry, in order."""

    def walk(node: Any) -> list[tuple[float, float]]:
        if isinstance(node[0], (int, float)):
            return [(node[0], node[1])]
        return [p for child in node for p in walk(child)]

    return walk(geometry["coordinates"])


def farthest_mm(answered: list[tuple[float, float]], srid: int, stored: list[tuple[float, float]]) -> float:
    """How far (mm on the WGS84 ellipsoid) any answered position, taken back to SRID 4326 by pyproj, is from its
    stored one. pyproj is the oracle: EPSG axis order in (``always_xy=False``), lon/lat out."""
    back = Transformer.from_crs(srid, 4326, always_xy=False)
    assert len(answered) == len(stored) > 0
    lat_lon = back.transform([a for a, _ in answered], [b for _, b in answered])
    # from_crs(…, always_xy=False) yields EPSG 4326's own order: latitude first
    _, _, metres = WGS84.inv(lat_lon[1], lat_lon[0], [x for x, _ in stored], [y for _, y in stored])
    return float(max(metres)) * 1000


def test_cgcs2000_and_web_mercator_round_trip_to_the_millimetre(
    client: TestClient, anonymous: TestClient, caller: Caller, nanjing: Engine
) -> None:
    with nanjing.connect() as conn:
        grid = conn.execute(text("SELECT code FROM unit WHERE tier = 'grid' ORDER BY random() LIMIT 1")).scalar_one()
    unit_points = stored_points(nanjing, "SELECT geom FROM unit WHERE code = :key", grid)
    lon, lat = 118.79 + random.uniform(-0.005, 0.005), 32.05 + random.uniform(-0.005, 0.005)
    void_open_cases(nanjing, "ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 600)", {"x": lon, "y": lat})
    report = {"lon": lon, "lat": lat, "category": CATEGORY, "source": "hotline", "description": "井盖缺失"}
    case_id = str(client.post("/api/v1/reports", json=report).json()["case_id"])
    case_points = stored_points(nanjing, "SELECT geom FROM case_file WHERE id = CAST(:key AS bigint)", case_id)
    xuanwu = caller(["district"], "320102")
    for uri, srid in ((CGCS2000, 4490), (WEB_MERCATOR, 3857)):
        unit = anonymous.get(f"/ogc/collections/units-grid/items/{grid}", params={"crs": uri})
        assert unit.status_code == 200 and unit.headers["content-crs"] == f"<{uri}>"
        assert farthest_mm(positions(unit.json()["geometry"]), srid, unit_points) < 1, uri
        listed = anonymous.get("/ogc/collections/units-grid/items", params={"crs": uri, "code": grid})
        assert listed.headers["content-crs"] == f"<{uri}>"
        assert farthest_mm(positions(listed.json()["features"][0]["geometry"]), srid, unit_points) < 1, uri
        case = client.get(f"/ogc/collections/cases/items/{case_id}", headers=xuanwu, params={"crs": uri})
        assert case.status_code == 200 and case.headers["content-crs"] == f"<{uri}>"
        assert farthest_mm(positions(case.json()["geometry"]), srid, case_points) < 1, uri
    mercator = positions(
        anonymous.get(f"/ogc/collections/units-grid/items/{grid}", params={"crs": WEB_MERCATOR}).json()["geometry"]
    )
    assert all(13.1e6 < x < 13.4e6 and 3.6e6 < y < 3.9e6 for x, y in mercator)  # metres east, north: Nanjing


def test_epsg_4326_answers_latitude_first_and_crs84_longitude_first(anonymous: TestClient, nanjing: Engine) -> None:
    with nanjing.connect() as conn:
        code = conn.execute(text("SELECT code FROM unit WHERE tier = 'street' ORDER BY random() LIMIT 1")).scalar_one()
    default = anonymous.get(f"/ogc/collections/units-street/items/{code}")
    assert default.headers["content-crs"] == f"<{CRS84}>"  # the default is said too
    lon_lat = positions(default.json()["geometry"])
    assert all(118 < lon < 120 and 31 < lat < 33 for lon, lat in lon_lat)
    lat_lon = positions(
        anonymous.get(f"/ogc/collections/units-street/items/{code}", params={"crs": WGS84_LATLON}).json()["geometry"]
    )
    assert lat_lon == [(lat, lon) for lon, lat in lon_lat]
    explicit = anonymous.get("/ogc/collections/units-street/items", params={"crs": CRS84, "code": code})
    assert explicit.headers["content-crs"] == f"<{CRS84}>"
    assert positions(explicit.json()["features"][0]["geometry"]) == lon_lat
    assert anonymous.get(f"/ogc/collections/units-street/items/{code}", params={"crs": "4326"}).status_code == 400


def test_bbox_crs_selects_what_the_same_box_in_crs84_selects(anonymous: TestClient) -> None:
    west, south, east, north = 118.78, 32.04, 118.80, 32.06
    expected = anonymous.get(
        "/ogc/collections/units-grid/items", params={"bbox": f"{west},{south},{east},{north}", "limit": 1000}
    ).json()
    ids = sorted(f["id"] for f in expected["features"])
    assert 0 < len(ids) == expected["numberMatched"]
    to_mercator = Transformer.from_crs(4326, 3857, always_xy=True)  # the oracle, not the code's own SQL
    (x0, x1), (y0, y1) = to_mercator.transform([west, east], [south, north])
    boxes = {
        WEB_MERCATOR: f"{x0},{y0},{x1},{y1}",
        WGS84_LATLON: f"{south},{west},{north},{east}",
        CGCS2000: f"{south},{west},{north},{east}",
        CRS84: f"{west},{south},{east},{north}",
    }
    for uri, bbox in boxes.items():
        page = anonymous.get(
            "/ogc/collections/units-grid/items", params={"bbox": bbox, "bbox-crs": uri, "crs": uri, "limit": 1000}
        )
        assert page.status_code == 200 and page.headers["content-crs"] == f"<{uri}>", page.text
        assert sorted(f["id"] for f in page.json()["features"]) == ids, uri
    mercator = {"bbox": boxes[WEB_MERCATOR], "bbox-crs": WEB_MERCATOR, "limit": 2}
    paged = anonymous.get("/ogc/collections/units-grid/items", params=mercator).json()
    following = next(link["href"] for link in paged["links"] if link["rel"] == "next")
    assert "bbox-crs=" in following and anonymous.get(following).json()["numberMatched"] == len(ids)
