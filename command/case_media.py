"""Evidence that exists: photos and videos uploaded to a case, and every file a case holds.

Feedback, checks and notes name their evidence by SHA-256, and a hash alone proves nothing: a
case's transitions may name only files stored for that case — its reports' media, or evidence
uploaded to it here (``command.workflow`` refuses any other hash). An upload is checked exactly as
report media are (``command.media``: sniffed, size-limited, complete, metadata stripped,
content-addressed), every file before any is kept, and recorded as one row per case and file in
the caller's scope: a case the caller cannot see is "not found" and nothing is written. The same
file uploaded to a case twice, or by two people at once, is one row — the first upload's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, BinaryIO

import psycopg
from psycopg.rows import dict_row

from command.media import MediaStore, kind_of
from command.queries.case_media import CASE, HELD, RECORD, RECORDED
from command.queries.intake import STORE_MEDIA
from spatial.errors import InvalidInputError, NotFoundError


def _item(row: dict[str, Any]) -> dict[str, Any]:
    report_id = row.get("report_id")
    return {
        "sha256": row["sha256"],
        "content_type": row["content_type"],
        "kind": kind_of(row["content_type"]),
        "size_bytes": row["size_bytes"],
        "filename": row["filename"],
        "url": f"/api/v1/media/{row['sha256']}",
        "source": "evidence" if report_id is None else "report",
        "report_id": None if report_id is None else str(report_id),
        "uploaded_by": row["uploaded_by"],
        "uploaded_at": row["uploaded_at"].isoformat(),
    }


async def _visible(conn: psycopg.AsyncConnection, case_id: int) -> None:
    if await (await conn.execute(CASE, (case_id,))).fetchone() is None:
        raise NotFoundError(f"no case {case_id}")


async def store_case_media(
    conn: psycopg.AsyncConnection,
    case_id: int,
    uploads: Sequence[tuple[BinaryIO, str | None]],
    uploader: str,
    store: MediaStore,
) -> list[dict[str, Any]]:
    """Check, keep and record ``uploads`` (file, filename) as evidence of a case the caller's scope sees.

    Refused before anything is kept or recorded: a case out of sight (NotFoundError), no file, too
    many, not a photo or video, truncated (InvalidInputError), too large (PayloadTooLargeError).
    Returns each file as recorded for the case (an earlier upload of the same file is returned as it was).
    """
    if not uploads:
        raise InvalidInputError("send at least one photo or video as a 'media' file part")
    await _visible(conn, case_id)
    stored = {m.sha256: m for m in await asyncio.to_thread(store.store_all, list(uploads))}
    hashes = list(stored)
    async with conn.transaction():
        await conn.execute(
            STORE_MEDIA, (hashes, [m.content_type for m in stored.values()], [m.size_bytes for m in stored.values()])
        )
        await conn.execute(RECORD, (case_id, uploader, hashes, [m.filename for m in stored.values()]))
    async with conn.cursor(row_factory=dict_row) as cur:
        rows = await (await cur.execute(RECORDED, (case_id, hashes, hashes))).fetchall()
    return [_item(row) for row in rows]


async def case_media(conn: psycopg.AsyncConnection, case_id: int) -> list[dict[str, Any]]:
    """Every photo and video of a case the caller's scope sees: its reports' media and its evidence, oldest first.

    Each names where it came from (report id, or who uploaded it when), the transitions that named
    it as evidence (seq, action, actor, time) and the URL to fetch it.
    """
    await _visible(conn, case_id)
    async with conn.cursor(row_factory=dict_row) as cur:
        rows = await (await cur.execute(HELD, {"case": case_id})).fetchall()
    return [{**_item(row), "named_by": row["named_by"]} for row in rows]
