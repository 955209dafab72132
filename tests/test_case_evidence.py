"""Evidence that exists: photos and videos uploaded to a case, listed with the reports' media, served in
scope, and the only hashes (with the reports' own) a transition of that case may name."""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from command.media import MediaLimits, MediaStore
from tests.conftest import Caller, tiny_png, upload_evidence, void_open_cases
from tests.test_media import REPORT, mp4, photo
from tests.test_workflow import CATEGORY, new_case, step, walk

OUTSIDE = "320104"  # 秦淮区: new_case puts its cases in 玄武区 (320102)


def media_of(client: TestClient, case: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.get(f"/api/v1/cases/{case}/media", headers=headers or {})


def send(
    client: TestClient,
    case: int,
    files: list[tuple[str, bytes, str]],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    parts = [("media", (name, content, declared)) for name, content, declared in files]
    return client.post(f"/api/v1/cases/{case}/media", files=parts, headers=headers or {})


def rows(nanjing: Engine, case: int) -> list[tuple[str, str]]:
    with nanjing.connect() as conn:
        found = conn.execute(text("SELECT sha256, uploaded_by FROM case_media WHERE case_id = :e"), {"e": case})
        return [(sha256, by) for sha256, by in found]


def case_with_photo(client: TestClient, nanjing: Engine, seed: int) -> tuple[int, str, str]:
    """A case of its own in 玄武区 from a report with a photo: (case, report id, the photo's hash)."""
    lon, lat = 118.79 + random.uniform(0, 0.02), 32.05 + random.uniform(0, 0.02)
    void_open_cases(
        nanjing,
        "category_code = :c AND ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 500)",
        {"c": CATEGORY, "x": lon, "y": lat},
    )
    body = {**REPORT, "category": CATEGORY, "lon": lon, "lat": lat, "description": f"井盖 {uuid.uuid4()}"}
    report = client.post(
        "/api/v1/reports",
        data={"report": json.dumps(body)},
        files=[("media", ("before.jpg", photo(seed), "image/jpeg"))],
    )
    assert report.status_code == 201, report.text
    report_id = report.json()["report_id"]
    sha256 = client.get(f"/api/v1/reports/{report_id}").json()["media"][0]["sha256"]
    return int(report.json()["case_id"]), report_id, sha256


def street_of(nanjing: Engine, case: int) -> str:
    with nanjing.connect() as conn:
        return conn.execute(
            text("SELECT u.code FROM case_file e JOIN unit u ON u.id = e.units[3] WHERE e.id = :e"), {"e": case}
        ).scalar_one()


@pytest.fixture
def small_limits(client: TestClient) -> Iterator[None]:
    original = client.app.state.media  # type: ignore[attr-defined]
    client.app.state.media = MediaStore(
        original.root,
        MediaLimits(
            photo_bytes=4000,
            video_bytes=9000,  # type: ignore[attr-defined]
            files_per_report=2,
        ),
    )
    yield
    client.app.state.media = original  # type: ignore[attr-defined]


def test_photo_and_video_are_uploaded_listed_with_the_reports_media_and_named_by_the_feedback(
    client: TestClient, nanjing: Engine, caller: Caller
) -> None:
    case, report_id, before = case_with_photo(client, nanjing, 41)
    handler = caller(["department_handler"], "320102", "供水公司")
    version = walk(client, case, department="供水公司")
    jpeg, video = photo(42), mp4(b"\x02" * 4000)
    uploaded = send(client, case, [("after.jpg", jpeg, "image/jpeg"), ("clip.mp4", video, "video/mp4")], handler)
    assert uploaded.status_code == 201, uploaded.text
    stored = uploaded.json()["media"]
    assert [(m["content_type"], m["kind"], m["size_bytes"], m["filename"]) for m in stored] == [
        ("image/jpeg", "photo", len(jpeg), "after.jpg"),
        ("video/mp4", "video", len(video), "clip.mp4"),
    ]
    after, clip = (m["sha256"] for m in stored)
    assert clip == hashlib.sha256(video).hexdigest() and stored[0]["url"] == f"/api/v1/media/{after}"
    fed = step(client, case, "feedback", version, handler, evidence=[after, clip])
    assert fed.status_code == 200, fed.text

    listed = media_of(client, case)
    assert listed.status_code == 200, listed.text
    items = {m["sha256"]: m for m in listed.json()["items"]}
    first, *evidence = items
    assert first == before and set(evidence) == {after, clip}  # oldest first: the report's photo
    assert items[before]["source"] == "report" and items[before]["report_id"] == report_id
    assert items[before]["named_by"] == [] and items[before]["uploaded_by"] is None
    handler_name = rows(nanjing, case)[0][1]
    assert handler_name.startswith("t-depart") and items[after]["source"] == "evidence"
    assert items[after]["uploaded_by"] == handler_name and items[after]["uploaded_at"].endswith("+08:00")
    seq = fed.json()["transition"]["seq"]
    assert [(n["seq"], n["action"], n["actor"]) for n in items[clip]["named_by"]] == [(seq, "feedback", handler_name)]
    fetched = client.get(items[clip]["url"], headers=handler)
    assert fetched.status_code == 200 and fetched.content == video and fetched.headers["content-type"] == "video/mp4"
    # the report's own photo is evidence of its case too: a checker may name it
    closed = step(client, case, "close", fed.json()["version"], caller(["checker"], "320100"), evidence=[before])
    assert closed.status_code == 200, closed.text


def test_evidence_of_another_case_or_never_uploaded_is_refused_naming_the_hash(
    client: TestClient, nanjing: Engine
) -> None:
    other = new_case(client, nanjing)
    elsewhere = upload_evidence(client, other)
    case = new_case(client, nanjing, keep=(other,))
    version = walk(client, case)
    mine = upload_evidence(client, case)
    never = hashlib.sha256(b"no such photo").hexdigest()
    for named, wrong in (
        ([elsewhere], [elsewhere]),
        ([mine, never], [never]),
        ([never, mine, elsewhere], [never, elsewhere]),
    ):
        refused = step(client, case, "feedback", version, evidence=named)
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        assert all(h in detail for h in wrong) and mine not in detail and f"/api/v1/cases/{case}/media" in detail
    assert client.get(f"/api/v1/cases/{case}/transitions").json()["version"] == version  # nothing moved
    assert step(client, case, "feedback", version, evidence=[mine]).status_code == 200


def test_bad_uploads_are_refused_with_what_to_fix_and_nothing_is_recorded(
    client: TestClient, nanjing: Engine, small_limits: None
) -> None:
    case = new_case(client, nanjing)
    cut = photo(43, "PNG")[:-5]
    for files, status, says in (
        ([("a.png", cut, "image/png")], 422, "truncated"),
        (
            [("ok.jpg", photo(44), "image/jpeg"), ("notes.jpg", b"%PDF-1.7\n" + b"x" * 99, "image/jpeg")],
            422,
            "not a photo or video",
        ),
        ([("big.mp4", mp4(b"\x00" * 10_000), "video/mp4")], 413, "over the 9,000-byte limit"),
        ([(f"{i}.png", tiny_png(i), "image/png") for i in range(3)], 422, "Maximum number of files is 2"),
    ):
        answer = send(client, case, files)
        assert answer.status_code == status and says in answer.json()["detail"], answer.text
    boundary = "evidenceboundary"
    multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    nothing = client.post(f"/api/v1/cases/{case}/media", content=f"--{boundary}--\r\n".encode(), headers=multipart)
    assert nothing.status_code == 422 and "at least one photo or video" in nothing.json()["detail"]
    as_json = client.post(f"/api/v1/cases/{case}/media", json={"media": "x"})
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.json()["detail"]
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + photo(45)  # dropped: no closing boundary
    cut_off = client.post(f"/api/v1/cases/{case}/media", content=body, headers=multipart)
    assert cut_off.status_code == 422 and "truncated" in cut_off.json()["detail"]
    unknown = client.post(
        f"/api/v1/cases/{case}/media", data={"note": "x"}, files=[("media", ("a.png", tiny_png(), "image/png"))]
    )
    assert unknown.status_code == 422 and "unknown multipart field" in unknown.json()["detail"]
    assert rows(nanjing, case) == [] and media_of(client, case).json()["items"] == []
    with nanjing.connect() as conn:
        kept = conn.execute(
            text("SELECT count(*) FROM media WHERE sha256 = ANY(:h)"),
            {"h": [hashlib.sha256(content).hexdigest() for content in (cut, photo(45))]},
        ).scalar_one()
    assert kept == 0


def test_who_may_upload_and_see_it(client: TestClient, nanjing: Engine, caller: Caller) -> None:
    case = new_case(client, nanjing)
    street = street_of(nanjing, case)
    planner = caller(["planner"], "320102")
    refused = send(client, case, [("a.png", tiny_png(), "image/png")], planner)
    assert refused.status_code == 403 and "cases:handle or cases:check or cases:dispatch" in refused.json()["detail"]
    assert media_of(client, case, planner).status_code == 200  # reading is cases:read
    checker = caller(["checker"], street)
    evidence = upload_evidence(client, case, checker)
    assert client.get(f"/api/v1/media/{evidence}", headers=caller(["street"], street)).status_code == 200
    outsider = caller(["district"], OUTSIDE)
    for answer in (
        send(client, case, [("a.png", tiny_png(), "image/png")], outsider),
        media_of(client, case, outsider),
        client.get(f"/api/v1/media/{evidence}", headers=outsider),
    ):
        assert answer.status_code == 404, answer.text
    assert send(client, 999_999_999_999, [("a.png", tiny_png(), "image/png")]).status_code == 404
    handler = caller(["department_handler"], "320102", "公安局")  # the case goes to 水务局 or 供水公司
    assert send(client, case, [("a.png", tiny_png(), "image/png")], handler).status_code == 404
    assert client.get(f"/api/v1/media/{evidence}", headers=handler).status_code == 404
    assert [sha for sha, _ in rows(nanjing, case)] == [evidence]


def test_the_same_file_uploaded_at_once_is_one_row(
    server: str, client: TestClient, nanjing: Engine, staff: dict[str, str], caller: Caller
) -> None:
    case = new_case(client, nanjing)
    content, hands = tiny_png(), [staff, caller(["street"], "320102"), caller(["checker"], "320100")]

    def upload(i: int) -> httpx.Response:
        files = [("media", (f"{i}.png", content, "image/png"))]
        return httpx.post(f"{server}/api/v1/cases/{case}/media", files=files, headers=hands[i % 3], timeout=30)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(upload, range(8)))
    assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers if a.status_code != 201]
    recorded = rows(nanjing, case)
    assert len(recorded) == 1
    assert {a.json()["media"][0]["uploaded_by"] for a in answers} == {recorded[0][1]}  # the first upload's row


def test_a_report_photo_of_another_case_is_not_this_cases_evidence(client: TestClient, nanjing: Engine) -> None:
    theirs = case_with_photo(client, nanjing, 46)[2]
    case = new_case(client, nanjing)
    refused = step(client, case, "feedback", walk(client, case), evidence=[theirs])
    assert refused.status_code == 422 and theirs in refused.json()["detail"]
