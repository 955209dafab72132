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

from command.intake import STORE_MEDIA
from command.media import MediaStore, kind_of
from spatial.errors import InvalidInputError, NotFoundError

CASE = "SELECT 1 FROM event WHERE id = %s"
RECORD = """
INSERT INTO case_media (event_id, sha256, filename, uploaded_by)
SELECT %s, sha256, filename, %s FROM unnest(%s::text[], %s::text[]) AS m(sha256, filename)
ON CONFLICT (event_id, sha256) DO NOTHING
"""
# a separate statement from RECORD: it sees the row a concurrent upload of the same file committed
RECORDED = """
SELECT cm.sha256, m.content_type, m.size_bytes, cm.filename, cm.uploaded_by, cm.uploaded_at
FROM case_media cm JOIN media m USING (sha256) WHERE cm.event_id = %s AND cm.sha256 = ANY(%s::text[])
ORDER BY array_position(%s::text[], cm.sha256::text)
"""
# the reports' media, then the evidence, each with the transitions that named it
HELD = """
SELECT s.sha256, m.content_type, m.size_bytes, s.report_id, s.filename, s.uploaded_by, s.uploaded_at,
       coalesce((SELECT json_agg(json_build_object('seq', t.seq, 'action', t.action, 'actor', t.actor, 'at', t.at)
                                 ORDER BY t.seq)
                 FROM case_transition t WHERE t.event_id = %(case)s AND s.sha256 = ANY(t.evidence)), '[]') AS named_by
FROM (SELECT rm.sha256, r.id AS report_id, rm.filename, NULL::text AS uploaded_by, r.created_at AS uploaded_at,
             rm.position
      FROM report r JOIN report_media rm ON rm.report_id = r.id WHERE r.event_id = %(case)s
      UNION ALL
      SELECT cm.sha256, NULL, cm.filename, cm.uploaded_by, cm.uploaded_at, 0
      FROM case_media cm WHERE cm.event_id = %(case)s) s
JOIN media m USING (sha256)
ORDER BY s.uploaded_at, s.report_id, s.position, s.sha256
"""


def _item(row: dict[str, Any]) -> dict[str, Any]:
    report_id = row.get("report_id")
    return {
        "sha256": row["sha256"], "content_type": row["content_type"], "kind": kind_of(row["content_type"]),
        "size_bytes": row["size_bytes"], "filename": row["filename"], "url": f"/api/v1/media/{row['sha256']}",
        "source": "evidence" if report_id is None else "report",
        "report_id": None if report_id is None else str(report_id), "uploaded_by": row["uploaded_by"],
        "uploaded_at": row["uploaded_at"].isoformat(),
    }  # fmt: skip


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
        await conn.execute(STORE_MEDIA, (hashes, [m.content_type for m in stored.values()],
                                         [m.size_bytes for m in stored.values()]))  # fmt: skip
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
