"""`cityops bench webhooks`: the change log fanned out to many subscribers, one of them down.

Changes are written straight into ``change_event`` at a steady rate (what the triggers write for each move;
writing them through real moves would measure intake, not delivery), city-wide, so every subscriber gets
every one. The platform (``cityops serve``: its delivery loop numbers them, filters them per subscription,
signs and POSTs the batches) delivers to a receiver in a process of its own, which notes for each event how
long after its change was written it arrived. One subscription points at a port nothing listens on.

The baseline fans out the same number of changes to the same receiver from a bare loop in this process:
the same batch sizes over one httpx client, no database, no filtering, no signing, nobody down — the floor
of delivering that much over HTTP on this machine. The issue's target is p95 ≤ 2 s.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime

import httpx
import orjson
import psycopg
from rich.console import Console
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.harness import Row, bench_caller, free_port, print_table, served
from bench.machine import describe
from spatial.db import libpq_url, make_engine
from spatial.settings import StoreSettings

TARGET_P95_S = 2.0
BATCH = 200
INSERT = """
INSERT INTO change_event (type, subject, case_id, units, departments, data)
SELECT 'case.moved', 'case/' || n, n, ARRAY[(SELECT id FROM unit WHERE parent_id IS NULL LIMIT 1)], '{}',
       jsonb_build_object('case_id', n, 'action', 'dispatch', 'from_state', 'filed', 'state', 'dispatched',
                          'version', 3, 'category', '010101', 'severity', 'IV', 'source', 'hotline',
                          'responsible_unit', '320102', 'district', '320102', 'departments', '["水务局"]',
                          'department', '水务局', 'deadline', now() + interval '2 days', 'lon', 118.79,
                          'lat', 32.05, 'address', '玄武区某路', 'at', now())
FROM generate_series(%s::bigint, %s::bigint) n
"""


def receiver_app() -> Starlette:
    """Notes each event's delay (arrival − the change's time) per hook; ``/stats`` answers them."""
    delays: dict[str, list[float]] = {}

    async def hook(request: Request) -> Response:
        arrived = time.time()
        events = orjson.loads(await request.body())
        noted = delays.setdefault(request.path_params["name"], [])
        noted.extend(arrived - datetime.fromisoformat(event["time"]).timestamp() for event in events)
        return Response(status_code=204)

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(delays)

    async def ready(request: Request) -> JSONResponse:
        return JSONResponse({"analytics": "ready"})

    return Starlette(
        routes=[
            Route("/hook/{name}", hook, methods=["POST"]),
            Route("/stats", stats),
            Route("/healthz/ready", ready),
        ]
    )


def _percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    cuts = statistics.quantiles(values, n=100)
    return statistics.median(values), cuts[94]


async def _write_changes(settings: StoreSettings, rate: int, seconds: float) -> int:
    """``rate`` changes a second for ``seconds``, in tenths of a second; how many were written."""
    written = 0
    step = max(rate // 10, 1)
    async with await psycopg.AsyncConnection.connect(libpq_url(settings), autocommit=True) as conn:
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            tick = time.monotonic()
            await conn.execute(INSERT, (written + 1, written + step))
            written += step
            await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
    return written


async def _bare_fan_out(receiver: str, subscribers: int, changes: int, rate: int) -> None:
    """The baseline: the same changes as batches to every subscriber from one client, as they are written."""
    source = "urn:cityops:bench"
    async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=200)) as client:
        sent = 0
        started = time.monotonic()
        while sent < changes:
            due = min(changes, int((time.monotonic() - started) * rate))
            if due <= sent:
                await asyncio.sleep(0.01)
                continue
            now = datetime.now(UTC).isoformat()
            for first in range(sent, due, BATCH):
                events = [
                    {
                        "specversion": "1.0",
                        "id": f"bench-{n}",
                        "source": source,
                        "type": "cn.cityops.case.moved",
                        "subject": f"case/{n}",
                        "time": now,
                        "data": {"case_id": n},
                    }
                    for n in range(first, min(due, first + BATCH))
                ]
                body = orjson.dumps(events)
                await asyncio.gather(
                    *(client.post(f"{receiver}/hook/bare{k}", content=body) for k in range(subscribers))
                )
            sent = due


def run(settings: StoreSettings, *, subscribers: int, rate: int, seconds: float, console: Console) -> list[Row]:
    """Fan ``rate`` changes a second for ``seconds`` out to ``subscribers`` (one down), then the baseline."""
    console.print(f"machine: {describe()}")
    down = f"http://127.0.0.1:{free_port()}/nobody"
    env = {"CITYOPS_WEBHOOK_ALLOW_HOSTS": '["127.0.0.1"]', "CITYOPS_WEBHOOK_BATCH": str(BATCH)}
    with (
        served(settings, ("uvicorn", "--factory", "bench.webhooks:receiver_app")) as receiver,
        served(settings, env=env) as base,
    ):
        engine = make_engine(settings)
        try:
            headers = bench_caller(engine, "bench-webhooks", ["integration"], "320100")
        finally:
            engine.dispose()
        for k in range(subscribers):
            url = down if k == 0 else f"{receiver}/hook/sub{k}"
            body = {"name": f"bench {uuid.uuid4().hex[:6]}", "url": url, "types": ["case.moved"]}
            answer = httpx.post(f"{base}/api/v1/subscriptions", json=body, headers=headers, timeout=30)
            answer.raise_for_status()
        written = asyncio.run(_write_changes(settings, rate, seconds))
        expected = written * (subscribers - 1)
        deadline = time.monotonic() + 120
        while True:
            delays = httpx.get(f"{receiver}/stats", timeout=30).json()
            got = sum(len(v) for k, v in delays.items() if k.startswith("sub"))
            if got >= expected or time.monotonic() > deadline:
                break
            time.sleep(1)
        ours = [d for k, v in delays.items() if k.startswith("sub") for d in v]
        asyncio.run(_bare_fan_out(receiver, subscribers - 1, written, rate))
        bare = [
            d for k, v in httpx.get(f"{receiver}/stats", timeout=30).json().items() if k.startswith("bare") for d in v
        ]
    ours_p50, ours_p95 = _percentiles(ours)
    bare_p50, bare_p95 = _percentiles(bare)
    console.print(
        f"{written:,} changes at {rate:,}/s for {seconds:g} s to {subscribers} subscribers (1 down): "
        f"{len(ours):,} of {expected:,} events delivered; bare fan-out {len(bare):,}"
    )
    rows = [
        Row(
            f"webhooks: {subscribers} subscribers (1 down) × {rate:,} changes/s, delay p50 / p95 s",
            f"{ours_p50:.2f} / {ours_p95:.2f}",
            f"{bare_p50:.2f} / {bare_p95:.2f} bare fan-out of the same batches",
            bare_p95 / ours_p95,
            "—",
        ),
        Row(
            "webhooks: p95 against the 2 s target",
            f"{ours_p95:.2f} s",
            f"{TARGET_P95_S:.2f} s",
            TARGET_P95_S / ours_p95,
            "≥ 1",
        ),
        Row(
            "webhooks: events delivered of those due (share)",
            f"{len(ours):,}",
            f"{expected:,}",
            len(ours) / max(expected, 1),
            "= 1",
        ),
    ]
    print_table(rows, console)
    return rows
