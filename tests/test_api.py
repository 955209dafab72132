"""HTTP: health, units (GeoJSON, filters, paging), locate; bad parameters are 4xx, never 500."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient


def test_health_reports_the_store(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["postgis"].startswith("3.") and body["geos"] and body["proj"]
    assert body["units"] > 30_000 and body["h3_resolution"] == 10
    readiness = client.get("/healthz/ready").json()
    assert readiness["status"] == "ready" and readiness["analytics"] in ("warming", "ready")
    deadline = time.monotonic() + 180  # the compile apart at start (~40 s on a cold machine) ends in ready
    while client.get("/healthz/ready").json()["analytics"] != "ready":
        assert time.monotonic() < deadline, "esda's kernels never finished compiling"
        time.sleep(0.5)


def test_an_api_process_loads_the_analysis_libraries_only_to_analyse() -> None:
    """esda, libpysal (with scikit-learn, numba, llvmlite), scipy.stats and matplotlib: ~400 MB an API process
    that never analyses does not carry (issue 23's 500 MB a worker)."""
    heavy = ["esda", "libpysal", "sklearn", "numba", "llvmlite", "scipy.stats", "matplotlib"]
    probe = f"import sys, api.app; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
    probe = f"import sys, grid.on_demand as d; d.esda(); print([m for m in {heavy[:5]!r} if m not in sys.modules])"
    assert (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


def test_units_by_tier_are_geojson_with_paging(client: TestClient) -> None:
    response = client.get("/api/v1/units", params={"tier": "district", "limit": 5})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == 12 and body["numberReturned"] == 5  # 11 districts + 江北新区
    assert [link["rel"] for link in body["links"]] == ["self", "next"]
    feature = body["features"][0]
    assert feature["geometry"]["type"] in {"Polygon", "MultiPolygon"}
    assert {"code", "name", "tier", "kind", "parent", "synthetic", "area_km2"} <= set(feature["properties"])
    last = client.get(body["links"][1]["href"]).json()
    assert [link["rel"] for link in last["links"]] == ["self", "next", "prev"]


def test_units_by_parent_and_bbox(client: TestClient) -> None:
    children = client.get("/api/v1/units", params={"parent": "320192", "limit": 50}).json()
    assert children["numberMatched"] == 7  # the seven streets 江北新区 manages
    boxed = client.get("/api/v1/units", params={"tier": "grid", "bbox": "118.77,32.03,118.79,32.05"}).json()
    assert 0 < boxed["numberMatched"] < 200
    assert all(f["properties"]["tier"] == "grid" for f in boxed["features"])


def test_one_unit_with_its_chain(client: TestClient) -> None:
    body = client.get("/api/v1/units/320111001").json()
    assert body["id"] == "320111001"
    chain = [(u["code"], u["kind"]) for u in body["properties"]["chain"]]
    assert chain == [("320100", "administrative"), ("320192", "management"), ("320111", "administrative")]
    assert body["properties"]["children"]["community"] == 14
    assert client.get("/api/v1/units/999999").status_code == 404


def test_locate_answers_the_chain(client: TestClient) -> None:
    body = client.get("/api/v1/locate", params={"lon": 118.7844, "lat": 32.0415}).json()
    assert [u["tier"] for u in body["chain"]][:5] == ["city", "district", "street", "community", "grid"]
    assert body["responsible"]["district"]["name"] == "秦淮区"
    assert body["index"]["resolution"] == 10 and body["index"]["kind"] in {"interior", "boundary"}


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"lon": 121.47, "lat": 31.23}, 422, "outside the jurisdiction"),
        ({"lon": 32.04, "lat": 118.78}, 422, "swapped"),
        ({"lon": "nan", "lat": 32.0}, 422, "finite"),
        ({"lon": "inf", "lat": 32.0}, 422, "finite"),
        ({"lon": 118.8, "lat": 95}, 422, "lat=95"),
        ({"lon": "abc", "lat": 32.0}, 422, "lon: Input should be a valid number"),
        ({"lat": 32.0}, 422, "lon: Field required"),
    ],
)
def test_locate_refuses_bad_points_clearly(client: TestClient, params: dict, status: int, message: str) -> None:
    response = client.get("/api/v1/locate", params=params)
    assert response.status_code == status
    assert message in response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"tier": "planet"}, "tier: Input should be 'city'"),
        ({"bbox": "1,2,3"}, "bbox needs 4 numbers"),
        ({"bbox": "a,b,c,d"}, "bbox must be numbers"),
        ({"bbox": "119,32,118,33"}, "minimum must not exceed maximum"),
        ({"bbox": "32,118,33,119"}, "outside lon -180…180 / lat -90…90"),
        ({"limit": 0}, "limit: Input should be greater than or equal to 1"),
        ({"limit": 100000}, "limit: Input should be less than or equal to 2000"),
        ({"parent": "x' OR 1=1 --"}, "parent: String should match pattern"),
        ({"simplify": -1}, "simplify"),
    ],
)
def test_units_refuse_bad_parameters_clearly(client: TestClient, params: dict, message: str) -> None:
    response = client.get("/api/v1/units", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]


def test_garbage_never_causes_a_server_error(client: TestClient) -> None:
    junk = ["", "-", "1e999", "nan", "NaN", "0x1F", "%00", "' OR 1=1", "1,2,3,4,5", "∞", "9" * 400]
    for lon, lat in itertools.product(junk, repeat=2):
        assert client.get("/api/v1/locate", params={"lon": lon, "lat": lat}).status_code < 500
    for value in junk:
        for name in ("tier", "bbox", "limit", "offset", "parent", "simplify"):
            assert client.get("/api/v1/units", params={name: value}).status_code < 500, (name, value)
        assert client.get(f"/api/v1/units/{value}").status_code < 500


def test_openapi_documents_every_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/units", "/api/v1/units/{code}", "/api/v1/locate", "/healthz"} <= set(paths)


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    assert len(client.get("/healthz/ready").headers["x-request-id"]) >= 8
    assert client.get("/healthz/ready", headers={"x-request-id": "abc123"}).headers["x-request-id"] == "abc123"
