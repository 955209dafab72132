"""The bare endpoint `cityops bench intake` measures intake against: same app, one INSERT, nothing else.

Mounted only when ``CITYOPS_BENCH_ENDPOINTS=true`` (the benchmark's own server); the table it
writes, ``bench_sink``, exists only in databases a benchmark prepared.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, Request

from api.geojson import FastJSONResponse
from spatial.errors import InvalidInputError
from web.access import Access
from web.deps import connection

router = APIRouter(
    prefix="/api/v1/_bench", tags=["bench"], include_in_schema=False, dependencies=[Depends(Access("cases:report"))]
)  # the same caller check as intake


@router.post("/insert", response_class=FastJSONResponse, status_code=201)
async def insert_one(request: Request) -> FastJSONResponse:
    """Parse the JSON body and insert it as one row: the floor under POST /api/v1/reports."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidInputError("body is not JSON") from None
    async with connection(request) as conn:
        row = await (
            await conn.execute("INSERT INTO bench_sink (body) VALUES (%s) RETURNING id", (orjson.dumps(body).decode(),))
        ).fetchone()
    return FastJSONResponse({"id": str(row[0])}, status_code=201)  # type: ignore[index]
