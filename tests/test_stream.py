"""The live change feed (issue 7): Server-Sent Events confined to the viewer's jurisdiction, resumable."""

from __future__ import annotations

import queue
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from sqlalchemy import Engine, text

from tests.conftest import Caller, add_force, void_open_cases

CATEGORY = "010101"  # 上水井盖 (水务局;供水公司)
XUANWU = (118.79, 32.05, 118.81, 32.07)  # inside 玄武区 (320102)
JIANGNING = (118.80, 31.90, 118.84, 31.93)  # inside 江宁区 (320115)


class EventStream:
    """An SSE connection read on a thread: its events, parsed, in a queue."""

    def __init__(self, response: httpx.Response) -> None:
        self.events: queue.Queue[tuple[str, str, dict[str, object]]] = queue.Queue()
        self._response = response
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind, ident, data = "message", "", []
        try:
            for line in self._response.iter_lines():
                if line == "":
                    if data:
                        self.events.put((kind, ident, orjson.loads("\n".join(data))))
                    kind, data = "message", []
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("id:"):
                    ident = line[3:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
        except httpx.HTTPError:
            pass  # closed by the test

    def next(self, kind: str, timeout_s: float = 5.0) -> tuple[str, dict[str, object]]:
        """The next event of ``kind`` (id, data); others are skipped."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                got, ident, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            if got == kind:
                return ident, data
        raise TimeoutError(f"no {kind} event within {timeout_s} s")

    def cases_until(self, case_id: str, timeout_s: float = 5.0) -> dict[str, dict[str, object]]:
        """Cases received (by id) up to and including ``case_id``."""
        seen: dict[str, dict[str, object]] = {}
        while case_id not in seen:
            _, data = self.next("changes", timeout_s)
            seen |= {c["id"]: c for c in data["cases"]}  # type: ignore[index,union-attr]
        return seen


@contextmanager
def stream(server: str, headers: dict[str, str], last_event_id: str | None = None) -> Iterator[EventStream]:
    """An open stream as the caller ``headers`` name, its ``ready`` event already read."""
    extra = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with (
        httpx.Client(timeout=httpx.Timeout(10, read=30)) as http,
        http.stream("GET", f"{server}/api/v1/stream", headers={**headers, **extra}) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        events = EventStream(response)
        yield events


def report(server: str, headers: dict[str, str], box: tuple[float, float, float, float], engine: Engine) -> str:
    """A new case at a random spot of ``box`` (the spot cleared of open cases first); its id."""
    lon, lat = random.uniform(box[0], box[2]), random.uniform(box[1], box[3])
    void_open_cases(
        engine,
        "category_code = :c AND ST_DWithin(geom::geography, ST_MakePoint(:x, :y)::geography, 500)",
        {"c": CATEGORY, "x": lon, "y": lat},
    )
    body = {"lon": lon, "lat": lat, "category": CATEGORY, "source": "hotline", "description": f"井盖 {uuid.uuid4()}"}
    answer = httpx.post(f"{server}/api/v1/reports", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["case_id"])


@pytest.fixture(scope="module")
def city(caller: Caller) -> dict[str, str]:
    return caller(["city_commander"], "320100")


def test_a_new_case_reaches_viewers_whose_jurisdiction_holds_it_and_no_other(
    server: str, caller: Caller, city: dict[str, str], nanjing: Engine
) -> None:
    xuanwu, jiangning = caller(["district"], "320102"), caller(["district"], "320115")
    with stream(server, xuanwu) as east, stream(server, jiangning) as south, stream(server, city) as whole:
        _, hello = east.next("ready")
        assert hello["forces"] is True and hello["resumed"] is False
        started = time.monotonic()
        inside = report(server, city, XUANWU, nanjing)
        seen = east.cases_until(inside)
        assert time.monotonic() - started < 2.0
        assert seen[inside]["state"] == "reported" and seen[inside]["category"] == CATEGORY
        assert seen[inside]["unit"].startswith("320102")  # type: ignore[union-attr]
        shown = httpx.get(f"{server}/api/v1/cases/{inside}/transitions", headers=city).json()
        assert seen[inside]["version"] == shown["version"] and seen[inside]["state"] == shown["state"]
        assert "description" not in seen[inside]  # the feed carries no free text (personal data stays behind the API)
        elsewhere = report(server, city, JIANGNING, nanjing)
        assert elsewhere in south.cases_until(elsewhere)
        after = report(server, city, XUANWU, nanjing)
        seen |= east.cases_until(after)
        assert elsewhere not in seen  # 玄武区 never hears of 江宁区's case
        assert {inside, elsewhere, after} <= whole.cases_until(after).keys()


def test_the_stream_shows_what_row_level_security_shows(
    server: str, caller: Caller, city: dict[str, str], nanjing: Engine
) -> None:
    """The feed's own filter and the database's policy agree, for units and for a department."""
    viewers = {
        "street": caller(["street"], "320102002"),
        "department": caller(["department_handler"], "320100", department="水务局"),
        "district": caller(["district"], "320115"),
    }
    with (
        stream(server, viewers["street"]) as street,
        stream(server, viewers["department"]) as department,
        stream(server, viewers["district"]) as district,
    ):
        cases = [report(server, city, box, nanjing) for box in (XUANWU, JIANGNING, XUANWU, JIANGNING)]
        fence = report(server, city, XUANWU, nanjing)
        time.sleep(1.0)  # every batch of the reports has been fanned out by now
        for name, events in (("street", street), ("department", department), ("district", district)):
            received: set[str] = set()
            while not events.events.empty():
                kind, _, data = events.events.get()
                if kind == "changes":
                    received |= {c["id"] for c in data["cases"]}  # type: ignore[union-attr]
            shown = {cid: httpx.get(f"{server}/api/v1/cases/{cid}", headers=viewers[name]) for cid in [*cases, fence]}
            visible = {cid for cid, answer in shown.items() if answer.status_code == 200}
            assert received & {*cases, fence} == visible, name


def test_forces_move_on_the_stream_only_for_viewers_who_may_see_forces(
    server: str, caller: Caller, city: dict[str, str], nanjing: Engine
) -> None:
    earlier = datetime.now(UTC) - timedelta(minutes=10)  # the move below is then a believable speed
    _, code = add_force(nanjing, "320102002", ["drainage"], at=(118.79, 32.05), fixed_at=earlier)
    tracker, commander, worker = (
        caller(["tracker"], "320100"),
        caller(["street"], "320102002"),
        caller(["grid_worker"], "320102002"),
    )
    with stream(server, commander) as sees, stream(server, worker) as blind:
        assert blind.next("ready")[1]["forces"] is False
        sees.next("ready")
        fix = {"id": code, "lon": 118.7912, "lat": 32.0512, "time": datetime.now(UTC).isoformat()}
        started = time.monotonic()
        assert (
            httpx.post(f"{server}/api/v1/forces/positions", json={"fixes": [fix]}, headers=tracker).status_code == 200
        )
        while True:
            _, data = sees.next("changes", 2.0)
            moved = [f for f in data["forces"] if f["code"] == code]  # type: ignore[union-attr]
            if moved:
                break
        assert time.monotonic() - started < 2.0
        assert moved[0]["lon"] == pytest.approx(118.7912) and moved[0]["status"] == "available"
        # a case of the worker's street after the move: its stream carries batches up to it, none with a force
        with nanjing.connect() as conn:
            x, y = conn.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
                    "WHERE code = '320102002') q"
                )
            ).one()
        fence = report(server, city, (x, y, x, y), nanjing)
        carried = []
        while not carried or fence not in {c["id"] for c in carried[-1]["cases"]}:  # type: ignore[union-attr]
            carried.append(blind.next("changes", 5.0)[1])
        assert carried and all(batch["forces"] == [] for batch in carried)


def test_a_dropped_viewer_resumes_from_its_last_event_and_misses_nothing(
    server: str, caller: Caller, city: dict[str, str], nanjing: Engine
) -> None:
    viewer = caller(["district"], "320102")
    with stream(server, viewer) as first:
        last, _ = first.next("ready")
    missed = [report(server, city, XUANWU, nanjing) for _ in range(3)]  # while nobody listens
    with stream(server, viewer, last_event_id=last) as second:
        _, hello = second.next("ready")
        assert hello["resumed"] is True
        _, replay = second.next("changes")
        assert set(missed) <= {c["id"] for c in replay["cases"]}  # type: ignore[union-attr]
    with stream(server, viewer, last_event_id=str(int(last) - 2 * 3600 * 1_000_000)) as stale:
        stale.next("ready")
        assert stale.next("reset")[1] == {"reload": True}  # too long ago to replay: reload the layers


def test_the_stream_refuses_strangers_and_malformed_cursors(server: str, caller: Caller) -> None:
    assert httpx.get(f"{server}/api/v1/stream").status_code == 401
    assert httpx.get(f"{server}/api/v1/stream", headers=caller(["integration"], "320100")).status_code == 403
    viewer = caller(["district"], "320102")
    bad = httpx.get(f"{server}/api/v1/stream", headers={**viewer, "Last-Event-ID": "yesterday"})
    assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["detail"]
    assert httpx.get(f"{server}/api/v1/stream?last_event_id=-4", headers=viewer).status_code == 422
