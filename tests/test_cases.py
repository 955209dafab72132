"""Case and report views, the text tie-break of duplicate merging, manual merge and split."""

from __future__ import annotations

import io
import json

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text

from command.duplicates import best_match
from tests.conftest import Caller

METRE = 1 / 94_000  # degrees of longitude per metre at Nanjing's latitude
SPOT = {"lon": 118.9000, "lat": 32.1000}  # 栖霞区, no other test reports here


def report(metres_east: float, description: str, *, category: str = "020106", **extra: object) -> dict:
    """A report a number of metres east of SPOT (020106 乱堆物堆料 merges within 50 m)."""
    return {
        "lon": SPOT["lon"] + metres_east * METRE,
        "lat": SPOT["lat"],
        "category": category,
        "source": "hotline",
        "description": description,
        **extra,
    }


def post(client: TestClient, body: dict) -> dict:
    response = client.post("/api/v1/reports", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def case(client: TestClient, case_id: str) -> dict:
    response = client.get(f"/api/v1/cases/{case_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_nearest_wins_unless_another_case_is_about_as_near_and_reads_alike() -> None:
    candidates = [(1, 10.0, "楼道口堆放建筑垃圾"), (2, 19.0, "路边堆放废旧家具")]
    assert best_match(candidates, "路边堆放废旧家具和床垫", radius_m=50).case_id == 2  # 9 m apart: a tie
    assert best_match(candidates, "楼道口建筑垃圾", radius_m=50).case_id == 1
    assert (
        best_match(
            [(1, 10.0, "楼道口堆放建筑垃圾"), (2, 40.0, "路边堆放废旧家具")], "路边堆放废旧家具", radius_m=50
        ).case_id
        == 1
    )  # 30 m farther: not a tie
    assert best_match([], "x", radius_m=50) is None


def test_text_breaks_the_tie_between_two_nearby_open_cases(client: TestClient) -> None:
    bricks = post(client, report(0, "小区门口堆放大量建筑垃圾砖块"))
    sofas = post(client, report(60, "人行道上堆放废旧沙发床垫"))
    assert bricks["case_id"] != sofas["case_id"]  # 60 m apart: beyond the 50 m radius
    middle_sofa = post(client, report(31, "人行道上有人堆放旧沙发"))  # 31 m from bricks, 29 m from sofas
    middle_bricks = post(client, report(29, "门口建筑垃圾砖块没人清理"))  # 29 m from bricks, 31 m from sofas
    assert middle_sofa["case_id"] == sofas["case_id"] and middle_bricks["case_id"] == bricks["case_id"]
    history = case(client, sofas["case_id"])["merges"]
    assert history[0]["kind"] == "auto" and 28 < history[0]["distance_m"] < 30 and history[0]["similarity"] > 0.4


def test_a_case_shows_its_reports_media_and_masked_contact(client: TestClient, caller: Caller) -> None:
    first = post(client, report(1_000, "桥下堆放杂物", reporter={"name": "王小明", "phone": "13812345678"}))
    image = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(image, format="PNG")
    second = client.post(
        "/api/v1/reports",
        data={"report": json.dumps(report(1_010, "桥下杂物堆成山"))},
        files=[("media", ("bridge.png", image.getvalue(), "image/png"))],
    ).json()
    assert second["case_id"] == first["case_id"]
    view = client.get(f"/api/v1/cases/{first['case_id']}", headers=caller(["checker"], "320100")).json()
    assert view["report_count"] == 2 and [r["id"] for r in view["reports"]] == [first["report_id"], second["report_id"]]
    assert view["reports"][0]["reporter"] == {"name": "王**", "phone": "138****5678"}
    assert view["responsible"]["tier"] == "street" and view["routing_trace"]["index"] in ("interior", "boundary")
    assert [unit["tier"] for unit in view["chain"]][:3] == ["city", "district", "street"]
    assert view["chain"][-1]["code"] == view["grid"]["code"]
    assert view["category"] == {"code": "020106", "name": "乱堆物堆料", "name_en": view["category"]["name_en"]}
    media = view["reports"][1]["media"][0]
    fetched = client.get(media["url"])
    assert fetched.status_code == 200 and fetched.content == image.getvalue()
    assert fetched.headers["content-type"] == "image/png" and "immutable" in fetched.headers["cache-control"]
    single = client.get(f"/api/v1/reports/{first['report_id']}", headers=caller(["planner"], "320100")).json()
    assert single["case_id"] == first["case_id"] and "13812345678" not in str(single)
    assert client.get("/api/v1/media/" + "0" * 64).status_code == 404
    assert client.get("/api/v1/media/not-a-hash").status_code == 404
    assert client.get("/api/v1/cases/999999999").status_code == 404
    assert client.get("/api/v1/cases/0").status_code == 422


def test_manual_merge_and_its_undo(client: TestClient, nanjing: Engine) -> None:
    keep = post(client, report(2_000, "河边堆放垃圾袋"))
    other = post(client, report(2_200, "河边垃圾袋很多"))  # 200 m away: a separate case until a person says not
    extra = post(client, report(2_210, "河边又有垃圾袋"))
    assert extra["case_id"] == other["case_id"]
    merged = client.post(
        f"/api/v1/cases/{keep['case_id']}/merge", json={"case_id": int(other["case_id"]), "reason": "同一处河岸"}
    )
    assert merged.status_code == 200 and merged.json()["reports_moved"] == 2
    kept, gone = case(client, keep["case_id"]), case(client, other["case_id"])
    assert kept["report_count"] == 3 and gone["report_count"] == 0 and gone["merged_into"] == keep["case_id"]
    assert [m["kind"] for m in kept["merges"]] == ["manual", "manual"]
    # a report of the merged-away case split out goes home, and the case comes back
    back = client.post(f"/api/v1/reports/{extra['report_id']}/split", json={"reason": "不是同一处"}).json()
    assert back["case_id"] == other["case_id"]
    gone = case(client, other["case_id"])
    assert gone["merged_into"] is None and gone["report_count"] == 1
    assert case(client, keep["case_id"])["report_count"] == 2
    with nanjing.connect() as conn:  # the counters agree with the rows
        mismatched = conn.execute(
            text(
                "SELECT count(*) FROM case_file e WHERE report_count <> (SELECT count(*) FROM report r WHERE "
                "r.case_id = e.id)"
                " AND e.external_id IS NULL"
            )
        ).scalar_one()
    assert mismatched == 0


def test_an_automatically_joined_report_splits_into_a_new_routed_case(client: TestClient) -> None:
    first = post(client, report(3_000, "路口堆放广告牌"))
    joined = post(client, report(3_020, "路口有一堆旧木板"))
    assert joined["case_id"] == first["case_id"]
    split = client.post(f"/api/v1/reports/{joined['report_id']}/split", json={"reason": "另一堆"})
    assert split.status_code == 200, split.text
    new = case(client, split.json()["case_id"])
    assert new["id"] != first["case_id"] and new["report_count"] == 1 and new["description"] == "路口有一堆旧木板"
    assert new["responsible"]["code"] and new["merges"][-1]["kind"] == "split"
    only = client.post(f"/api/v1/reports/{first['report_id']}/split", json={"reason": "x"})
    assert only.status_code == 409 and "only report" in only.json()["detail"]


def test_merge_refusals(client: TestClient) -> None:
    one = post(client, report(4_000, "施工渣土堆放"))
    two = post(client, report(4_300, "渣土"))
    url = f"/api/v1/cases/{one['case_id']}/merge"
    assert client.post(url, json={"case_id": int(one["case_id"]), "reason": "x"}).status_code == 409
    assert client.post(url, json={"case_id": 999_999_999, "reason": "x"}).status_code == 404
    assert client.post(url, json={"case_id": int(two["case_id"])}).status_code == 422  # a merge needs a reason
    assert client.post(url, json={"case_id": int(two["case_id"]), "reason": "同一工地"}).status_code == 200
    again = client.post(url, json={"case_id": int(two["case_id"]), "reason": "again"})
    assert again.status_code == 409 and "merged already" in again.json()["detail"]
