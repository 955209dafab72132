"""Photos and videos on reports: sniffed, limited, checked whole, stored once under their hash."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sqlalchemy import Engine, text

from command.media import MediaLimits, MediaStore

REPORT = {"lon": 118.7969, "lat": 32.0603, "category": "010101", "source": "citizen_app", "description": "井盖破损"}


def photo(seed: int, fmt: str = "JPEG") -> bytes:
    """A real encoded image, different per seed."""
    image = Image.new("RGB", (64, 48), color=(seed % 256, (seed * 7) % 256, (seed * 13) % 256))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(payload: bytes) -> bytes:
    """An ISO base-media file: ftyp + mdat, the structure every phone camera writes."""
    return box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + box(b"mdat", payload)


def stored_counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM media), (SELECT count(*) FROM report_media), (SELECT count(*) "
                    "FROM report)"
                )
            ).one()
        )


def upload(client: TestClient, files: list[tuple[str, bytes, str]]) -> httpx.Response:
    """A report with a fresh description (so it opens its own case) and these files."""
    parts = [("media", (name, content, declared)) for name, content, declared in files]
    report = json.dumps({**REPORT, "description": uuid.uuid4().hex})
    return client.post("/api/v1/reports", data={"report": report}, files=parts)


@pytest.fixture
def small_limits(client: TestClient) -> Iterator[MediaStore]:
    original = client.app.state.media  # type: ignore[attr-defined]
    limits = MediaLimits(photo_bytes=4000, video_bytes=9000, files_per_report=2)
    client.app.state.media = MediaStore(original.root, limits)  # type: ignore[attr-defined]
    yield client.app.state.media  # type: ignore[attr-defined]
    client.app.state.media = original  # type: ignore[attr-defined]


def test_photo_and_video_are_stored_under_their_hash(client: TestClient, nanjing: Engine) -> None:
    jpeg, video = photo(1), mp4(b"\x00" * 5000)
    response = upload(client, [("a.jpg", jpeg, "image/jpeg"), ("clip.mp4", video, "video/mp4")])
    assert response.status_code == 201, response.text
    store: MediaStore = client.app.state.media  # type: ignore[attr-defined]
    with nanjing.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT m.sha256, m.content_type, m.size_bytes, rm.position, rm.filename FROM report_media rm "
                "JOIN media m USING (sha256) WHERE rm.report_id = :r ORDER BY rm.position"
            ),
            {"r": int(response.json()["report_id"])},
        ).all()
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        ("image/jpeg", len(jpeg), 0, "a.jpg"),
        ("video/mp4", len(video), 1, "clip.mp4"),
    ]
    for (sha, *_), content in zip(rows, (jpeg, video), strict=True):
        assert sha == hashlib.sha256(content).hexdigest()
        assert store.path_of(sha).read_bytes() == content


def test_the_same_photo_on_two_reports_is_stored_once(client: TestClient, nanjing: Engine) -> None:
    shared = photo(2, "PNG")
    first = upload(client, [("x.png", shared, "image/png")])
    before = stored_counts(nanjing)
    second = upload(client, [("forwarded.png", shared, "application/octet-stream")])  # declared type is not trusted
    assert first.status_code == second.status_code == 201
    assert stored_counts(nanjing) == (before[0], before[1] + 1, before[2] + 1)
    store: MediaStore = client.app.state.media  # type: ignore[attr-defined]
    assert len(list(store.path_of(hashlib.sha256(shared).hexdigest()).parent.glob("*"))) >= 1


@pytest.mark.parametrize(
    ("name", "content", "status", "says"),
    [
        ("notes.jpg", b"%PDF-1.7\n" + b"x" * 200, 422, "not a photo or video"),
        ("script.jpg", b"<script>alert(1)</script>", 422, "not a photo or video"),
        ("cut.jpg", photo(3)[:-200], 422, "truncated"),
        ("cut.png", photo(4, "PNG")[:-5], 422, "truncated"),
        ("cut.mp4", mp4(b"\x01" * 3000)[:-100], 422, "truncated"),
        ("empty.jpg", b"", 422, "empty"),
    ],
)
def test_bad_media_is_refused_and_nothing_is_stored(
    client: TestClient, nanjing: Engine, name: str, content: bytes, status: int, says: str
) -> None:
    before = stored_counts(nanjing)
    response = upload(client, [("ok.jpg", photo(5), "image/jpeg"), (name, content, "image/jpeg")])
    assert response.status_code == status and says in response.json()["detail"], response.text
    assert stored_counts(nanjing) == before


def test_limits_on_size_and_count(client: TestClient, nanjing: Engine, small_limits: MediaStore) -> None:
    before = stored_counts(nanjing)
    big = mp4(b"\x00" * 10_000)
    too_big = upload(client, [("big.mp4", big, "video/mp4")])
    assert too_big.status_code == 413 and "over the 9,000-byte limit" in too_big.json()["detail"]
    too_many = upload(client, [(f"{i}.jpg", photo(10 + i), "image/jpeg") for i in range(3)])
    assert too_many.status_code == 422 and "Maximum number of files is 2" in too_many.json()["detail"], too_many.text
    assert stored_counts(nanjing) == before


def test_a_truncated_multipart_body_is_refused(client: TestClient, nanjing: Engine) -> None:
    boundary = "cityopsboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="report"\r\n\r\n{json.dumps(REPORT)}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode() + photo(6)[:300]  # the connection dropped here: no closing boundary
    before = stored_counts(nanjing)
    response = client.post(
        "/api/v1/reports", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 422, response.text
    assert "truncated" in response.json()["detail"] or "multipart" in response.json()["detail"]
    assert stored_counts(nanjing) == before


def test_uploads_need_a_report_and_a_known_format(client: TestClient, nanjing: Engine) -> None:
    before = stored_counts(nanjing)
    no_report = client.post("/api/v1/reports", files=[("media", ("a.jpg", photo(7), "image/jpeg"))])
    assert no_report.status_code == 422 and "'report'" in no_report.json()["detail"]
    files = [("media", ("a.jpg", photo(7), "image/jpeg"))]
    bad_json = client.post("/api/v1/reports", data={"report": "{not json"}, files=files)
    assert bad_json.status_code == 422
    plain = client.post("/api/v1/reports", content=b"lon=1", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415 and "application/json" in plain.json()["detail"]
    assert stored_counts(nanjing) == before


def test_photo_metadata_is_removed_before_storing(client: TestClient, nanjing: Engine) -> None:
    exif = Image.Exif()
    exif[0x010F] = "Phone Maker"  # Make
    exif[0xA431] = "SERIAL-12345"  # BodySerialNumber
    exif[0x8825] = {1: "N", 2: (32.0, 2.0, 30.0), 3: "E", 4: (118.0, 47.0, 1.0)}  # GPS
    original = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(original, format="JPEG", exif=exif)
    assert b"SERIAL-12345" in original.getvalue()
    response = upload(client, [("gps.jpg", original.getvalue(), "image/jpeg")])
    assert response.status_code == 201, response.text
    with nanjing.connect() as conn:
        sha = conn.execute(
            text("SELECT sha256 FROM report_media WHERE report_id = :r"), {"r": int(response.json()["report_id"])}
        ).scalar_one()
    stored = client.app.state.media.path_of(sha).read_bytes()  # type: ignore[attr-defined]
    assert b"SERIAL-12345" not in stored and b"Exif" not in stored and hashlib.sha256(stored).hexdigest() == sha
    image = Image.open(io.BytesIO(stored))
    assert image.size == (40, 30) and not image.getexif()  # still a whole photo, without its metadata
    png = io.BytesIO()
    info = PngInfo()
    info.add_text("Author", "张三 13812345678")
    Image.new("RGB", (8, 8)).save(png, format="PNG", pnginfo=info)
    response = upload(client, [("note.png", png.getvalue(), "image/png")])
    with nanjing.connect() as conn:
        sha = conn.execute(
            text("SELECT sha256 FROM report_media WHERE report_id = :r"), {"r": int(response.json()["report_id"])}
        ).scalar_one()
    stored = client.app.state.media.path_of(sha).read_bytes()  # type: ignore[attr-defined]
    assert b"13812345678" not in stored and Image.open(io.BytesIO(stored)).size == (8, 8)
