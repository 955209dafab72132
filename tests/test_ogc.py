"""OGC API - Features contract (issue 7): landing, conformance, collections, items, paging, filters, errors."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box, shape
from sqlalchemy import Engine, text

from tests.conftest import Caller, add_force, void_open_cases

CATEGORY = "010101"


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
    assert not [c for c in conforms if c.endswith("/oas30")] or declared == "3.0"  # issue 19.10: what is served
    slashed = anonymous.get("/ogc/", follow_redirects=False)  # issue 19.10: was a 307 with an empty body
    assert slashed.status_code == 200 and slashed.json()["links"] == landing.json()["links"]


def test_collections_describe_units_per_tier_cases_and_forces(anonymous: TestClient) -> None:
    body = anonymous.get("/ogc/collections").json()
    ids = [c["id"] for c in body["collections"]]
    assert ids[:6] == ["units-city", "units-district", "units-street", "units-community", "units-grid",
                       "units-building"] and {"cases", "forces"} <= set(ids)  # fmt: skip
    for collection in body["collections"]:
        assert collection["itemType"] == "feature"
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
    found = anonymous.get("/ogc/collections/units-grid/items", params={"bbox": ",".join(map(str, area)),
                                                                       "limit": 1000}).json()  # fmt: skip
    assert 0 < found["numberReturned"] == found["numberMatched"]
    assert all(shape(f["geometry"]).intersects(box(*area)) for f in found["features"])
    three_d = anonymous.get("/ogc/collections/units-grid/items",
                            params={"bbox": "118.78,32.04,0,118.80,32.06,100", "limit": 1000}).json()  # fmt: skip
    assert three_d["numberMatched"] == found["numberMatched"]
    code = found["features"][0]["id"]
    single = anonymous.get("/ogc/collections/units-grid/items", params={"code": code}).json()
    assert [f["id"] for f in single["features"]] == [code]
    item = anonymous.get(f"/ogc/collections/units-grid/items/{code}")
    assert item.status_code == 200 and item.json()["properties"]["tier"] == "grid"
    assert {link["rel"] for link in item.json()["links"]} == {"self", "collection"}
    assert anonymous.get("/ogc/collections/units-grid/items/NOSUCH").status_code == 404


@pytest.mark.parametrize(("params", "message"), [
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
])  # fmt: skip
def test_malformed_queries_are_400_with_what_to_fix(anonymous: TestClient, params: dict[str, str],
                                                    message: str) -> None:  # fmt: skip
    answer = anonymous.get("/ogc/collections/units-grid/items", params=params)
    assert answer.status_code == 400 and message in answer.json()["detail"], answer.text
    assert anonymous.get("/ogc/conformance", params={"x": "1"}).status_code == 400


def test_cases_and_forces_are_the_callers_jurisdiction_with_datetime_on_their_times(
    client: TestClient, anonymous: TestClient, caller: Caller, nanjing: Engine
) -> None:  # fmt: skip
    lon, lat = 118.80 + random.uniform(-0.005, 0.005), 32.06 + random.uniform(-0.005, 0.005)
    void_open_cases(nanjing, "ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 600)", {"x": lon, "y": lat})
    before = datetime.now(UTC) - timedelta(seconds=1)
    answer = client.post("/api/v1/reports", json={"lon": lon, "lat": lat, "category": CATEGORY, "source": "hotline",
                                                  "description": "井盖缺失"})  # fmt: skip
    case_id = str(answer.json()["case_id"])
    xuanwu, jiangning = caller(["district"], "320102"), caller(["district"], "320115")
    since = {"datetime": f"{before.isoformat()}/..", "limit": 1000, "state": "reported"}
    recent = client.get("/ogc/collections/cases/items", headers=xuanwu, params=since)
    assert recent.status_code == 200 and case_id in [f["id"] for f in recent.json()["features"]]
    assert all(f["properties"]["state"] == "reported" for f in recent.json()["features"])
    earlier = client.get("/ogc/collections/cases/items", headers=xuanwu,
                         params={"datetime": f"../{before.isoformat()}", "limit": 1000}).json()  # fmt: skip
    assert case_id not in [f["id"] for f in earlier["features"]]
    assert client.get(f"/ogc/collections/cases/items/{case_id}", headers=xuanwu).status_code == 200
    assert client.get(f"/ogc/collections/cases/items/{case_id}", headers=jiangning).status_code == 404
    assert anonymous.get("/ogc/collections/cases/items").status_code == 401
    force_id, _ = add_force(nanjing, "320102002", ["drainage"], at=(lon, lat))
    forces = client.get("/ogc/collections/forces/items", headers=xuanwu,
                        params={"bbox": f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"}).json()  # fmt: skip
    assert str(force_id) in [f["id"] for f in forces["features"]]
    assert "contact" not in forces["features"][0]["properties"]
    worker = caller(["grid_worker"], "320102002")
    assert client.get("/ogc/collections/forces/items", headers=worker).status_code == 403
    assert client.get(f"/ogc/collections/forces/items/{force_id}", headers=jiangning).status_code == 404
