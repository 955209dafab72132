"""Open311 GeoReport v2 contract: every endpoint in JSON and XML, the spec's errors, no personal data."""

from __future__ import annotations

import re
import uuid
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from command.users import create_api_key, create_user, disable_user

BASE = "/open311/v2"
STANDARD_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
ZONED = re.compile(r"T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FORM = {
    "api_key": "from fixture",
    "service_code": "020104",
    "lat": "32.0415",
    "long": "118.7844",  # 秦淮区
    "description": "路面有大量油污",
    "first_name": "李",
    "last_name": "四",
    "phone": "13987654321",
    "email": "lisi@example.cn",
    "address_string": "中山南路",
}


@pytest.fixture(scope="module")
def city(client: TestClient, nanjing: Engine) -> TestClient:
    """The test client, and an Open311 key issued to an integration user (put into FORM)."""
    name = f"open311-{uuid.uuid4().hex[:8]}"
    with nanjing.begin() as conn:
        create_user(conn, name, unit_code="320100", roles=["integration"], password=None, actor="test")
        FORM["api_key"] = create_api_key(conn, name, "citizen app", actor="test")
    return client


def test_keys_that_may_not_file_reports_are_refused(city: TestClient, nanjing: Engine) -> None:
    planner, retired = f"planner-{uuid.uuid4().hex[:8]}", f"retired-{uuid.uuid4().hex[:8]}"
    with nanjing.begin() as conn:
        create_user(conn, planner, unit_code="320100", roles=["planner"], password=None, actor="test")
        create_user(conn, retired, unit_code="320100", roles=["integration"], password=None, actor="test")
        planner_key, retired_key = (
            create_api_key(conn, planner, "analysis", actor="test"),
            create_api_key(conn, retired, "old app", actor="test"),
        )
        disable_user(conn, retired, actor="test")
    for key in (planner_key, retired_key, "deadbeef0000.not-a-secret"):
        assert "not allowed" in spec_error(
            city.post(f"{BASE}/requests.json", data={**FORM, "api_key": key}), 403, "json"
        )


def xml(response) -> ET.Element:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"].startswith("text/xml"), response.headers["content-type"]
    return ET.fromstring(response.content)


def spec_error(response, status: int, fmt: str) -> str:  # type: ignore[no-untyped-def]
    """The description of a spec-format error, after checking its shape."""
    assert response.status_code == status, response.text
    if fmt == "json":
        [error] = response.json()
        assert error["code"] == status
        return error["description"]
    root = xml(response)
    assert root.tag == "errors" and root.find("error/code").text == str(status)
    return root.find("error/description").text


def filed(city: TestClient, **change: str) -> dict:
    response = city.post(f"{BASE}/requests.json", data={**FORM, **change})
    assert response.status_code == 201, response.text
    [answer] = response.json()
    return answer


def test_discovery(city: TestClient) -> None:
    as_json = city.get(f"{BASE}/discovery.json").json()
    assert as_json["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert as_json["endpoints"][0]["url"].endswith("/open311/v2/")
    root = xml(city.get(f"{BASE}/discovery.xml"))
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


def test_services_in_both_formats(city: TestClient) -> None:
    services = city.get(f"{BASE}/services.json").json()
    assert len(services) >= 40
    assert all(
        isinstance(s["service_code"], str)
        and s["metadata"] is True
        and s["type"] == "realtime"
        and s["group"]
        and s["keywords"]
        for s in services
    )
    assert {"部件·公用设施", "事件·市容环境"} <= {s["group"] for s in services}
    root = xml(city.get(f"{BASE}/services.xml"))
    assert root.tag == "services" and len(root.findall("service")) == len(services)
    first = root.find("service")
    assert first.find("service_code").text == services[0]["service_code"] and first.find("metadata").text == "true"


def test_service_definition(city: TestClient) -> None:
    definition = city.get(f"{BASE}/services/020104.json").json()
    assert definition["service_code"] == "020104"
    [severity] = definition["attributes"]
    assert severity["code"] == "severity" and [v["key"] for v in severity["values"]] == ["IV", "III", "II", "I"]
    root = xml(city.get(f"{BASE}/services/020104.xml"))
    assert root.tag == "service_definition" and len(root.findall("attributes/attribute/values/value")) == 4
    for fmt in ("json", "xml"):
        assert "not found" in spec_error(city.get(f"{BASE}/services/999999.{fmt}"), 404, fmt)


def test_post_get_and_token_round_trip(city: TestClient) -> None:
    answer = filed(city, **{"attribute[severity]": "III"})
    assert isinstance(answer["service_request_id"], str) and answer["service_notice"]
    [request] = city.get(f"{BASE}/requests/{answer['service_request_id']}.json").json()
    assert set(request) >= STANDARD_FIELDS and request["address_id"] is None and request["zipcode"] is None
    assert request["service_code"] == "020104" and request["status"] == "open"
    assert request["agency_responsible"] == "秦淮区"  # severity III escalates the street's category to the district
    assert abs(request["lat"] - 32.0415) < 1e-9 and abs(request["long"] - 118.7844) < 1e-9
    assert all(ZONED.search(request[f]) for f in ("requested_datetime", "updated_datetime", "expected_datetime"))
    assert request["cityops_state"] == "reported" and request["cityops_case_id"]
    tokens = city.get(f"{BASE}/tokens/{answer['token']}.json").json()
    assert tokens == [{"service_request_id": answer["service_request_id"], "token": answer["token"]}]
    root = xml(city.get(f"{BASE}/requests/{answer['service_request_id']}.xml"))
    [element] = root.findall("request")
    assert {child.tag for child in element} >= STANDARD_FIELDS and element.find("address_id").text is None
    token_xml = xml(city.get(f"{BASE}/tokens/{answer['token']}.xml"))
    assert token_xml.find("request/service_request_id").text == answer["service_request_id"]
    posted_xml = xml(city.post(f"{BASE}/requests.xml", data={**FORM, "description": uuid.uuid4().hex}))
    assert posted_xml.tag == "service_requests" and posted_xml.find("request/service_request_id").text.isdigit()


def test_no_personal_data_in_public_outputs(city: TestClient, nanjing: Engine) -> None:
    answer = filed(city, description=f"油污 {uuid.uuid4().hex}")
    for fmt in ("json", "xml"):
        body = city.get(f"{BASE}/requests/{answer['service_request_id']}.{fmt}").text
        assert "13987654321" not in body and "lisi@" not in body and "李 四" not in body
    with nanjing.connect() as conn:  # stored for the centre, though
        stored = conn.execute(
            text("SELECT reporter->>'phone', given->'open311'->>'email' FROM report WHERE id = :id"),
            {"id": int(answer["service_request_id"])},
        ).one()
    assert stored == ("13987654321", "lisi@example.cn")


def test_sensitive_categories_are_published_coarsely(city: TestClient) -> None:
    answer = filed(city, service_code="020601", description="夜间施工噪声")  # 噪声扰民 is sensitive
    [request] = city.get(f"{BASE}/requests/{answer['service_request_id']}.json").json()
    assert request["address"].startswith("南京市 秦淮区 ") and "网格" not in request["address"]  # its community only
    assert (request["lat"], request["long"]) != (32.0415, 118.7844)
    assert abs(request["lat"] - 32.0415) < 0.01 and abs(request["long"] - 118.7844) < 0.01  # the res-8 cell centre


def test_markup_is_escaped_in_xml(city: TestClient) -> None:
    answer = filed(city, description='<script>alert("x")</script>')
    body = city.get(f"{BASE}/requests/{answer['service_request_id']}.xml").text
    assert "<script>" not in body and "&lt;script&gt;" in body


def test_listing_filters_window_and_pages(city: TestClient) -> None:
    marker = uuid.uuid4().hex
    ids = [filed(city, service_code="020405", description=f"{marker} {i}")["service_request_id"] for i in range(3)]
    listed = city.get(f"{BASE}/requests.json", params={"service_code": "020405"}).json()
    assert set(ids) <= {r["service_request_id"] for r in listed} and {r["service_code"] for r in listed} == {"020405"}
    assert [r["service_request_id"] for r in listed[:3]] == ids[::-1]  # newest first
    page2 = city.get(f"{BASE}/requests.json", params={"service_code": "020405", "page_size": 1, "page": 2}).json()
    assert [r["service_request_id"] for r in page2] == [ids[1]]
    by_id = city.get(f"{BASE}/requests.json", params={"service_request_id": f"{ids[0]},{ids[2]}"}).json()
    assert sorted(r["service_request_id"] for r in by_id) == sorted([ids[0], ids[2]])
    # other tests' cases share the city: the filters must leave out these open ones, whatever else is listed
    closed = city.get(f"{BASE}/requests.json", params={"status": "closed", "service_code": "020405"}).json()
    assert not set(ids) & {r["service_request_id"] for r in closed} and {r["status"] for r in closed} <= {"closed"}
    january = {"start_date": "2025-01-01T00:00:00+08:00", "end_date": "2025-02-01T00:00:00Z"}
    assert not set(ids) & {r["service_request_id"] for r in city.get(f"{BASE}/requests.json", params=january).json()}
    root = xml(city.get(f"{BASE}/requests.xml", params={"service_code": "020405"}))
    assert len(root.findall("request")) == len(listed)


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"start_date": "yesterday"}, "not a W3C datetime"),
        ({"start_date": "2026-13-01T00:00:00Z"}, "not a W3C datetime"),
        ({"end_date": "2026-11-01T00:00:00"}, "no timezone"),
        ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "at most 90 days"),
        ({"status": "pending"}, "status must be"),
        ({"page_size": "5000"}, "page_size"),
        ({"service_request_id": "1;DROP"}, "numeric ids"),
    ],
)
def test_bad_listing_queries_get_spec_errors(city: TestClient, fmt: str, params: dict, says: str) -> None:
    assert says in spec_error(city.get(f"{BASE}/requests.{fmt}", params=params), 400, fmt)


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"api_key": "wrong"}, 403, "api_key"),
        ({"api_key": None}, 403, "api_key"),
        ({"service_code": "999999"}, 404, "not found"),
        ({"service_code": None}, 400, "service_code is required"),
        ({"lat": None}, 400, "lat and long are required"),
        ({"lat": "north"}, 400, "must be numbers"),
        ({"lat": "31.23", "long": "121.47"}, 400, "outside"),
        ({"attribute[severity]": "V"}, 400, "severity"),
        ({"attribute[colour]": "red"}, 400, "unknown field"),
        ({"description": "长" * 4001}, 400, "4000"),
        ({"jurisdiction_id": "shanghai"}, 404, "not served here"),
    ],
)
def test_bad_posts_get_spec_errors_and_write_nothing(
    city: TestClient, nanjing: Engine, fmt: str, change: dict, status: int, says: str
) -> None:
    with nanjing.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM report")).scalar_one()
    form = {k: v for k, v in {**FORM, **change}.items() if v is not None}
    assert says in spec_error(city.post(f"{BASE}/requests.{fmt}", data=form), status, fmt)
    with nanjing.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM report")).scalar_one() == before


def test_unknown_ids_formats_and_bodies(city: TestClient) -> None:
    assert "not found" in spec_error(city.get(f"{BASE}/requests/999999999.json"), 404, "json")
    assert "not found" in spec_error(city.get(f"{BASE}/requests/abc.xml"), 404, "xml")
    assert "not found" in spec_error(city.get(f"{BASE}/tokens/not-a-token.json"), 404, "json")
    assert "not found" in spec_error(city.get(f"{BASE}/tokens/{uuid.uuid4()}.json"), 404, "json")
    assert ".csv" in spec_error(city.get(f"{BASE}/services.csv"), 404, "json")
    assert "form-encoded" in spec_error(city.post(f"{BASE}/requests.json", json=FORM), 400, "json")
