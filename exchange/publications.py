"""Monthly publications: a month's public figures frozen as files, listed in a signed manifest.

``publish`` computes a month once it has ended (``exchange.public_figures``), writes the files the public
page and the open-data downloads serve, and signs their manifest (each file's name, type, size and
SHA-256) with the platform's Ed25519 key. The rows are append-only (migration 0051's triggers): asked
again for a published month, ``publish`` hands back the stored publication untouched and says whether
today's data would now give different figures — it never changes what was published.

Every file is a pure function of the data (sorted, canonical JSON, no clock inside), so the same data
gives the same bytes, and the same manifest gives the same signature (Ed25519 is deterministic).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from command.working_time import CHINA
from exchange import scenarios
from exchange.public_figures import Month, month_figures
from exchange.publication_key import key_id, public_pem, signature_holds
from spatial.audit import record_async
from spatial.errors import InvalidInputError, NotFoundError

JSON = "application/json"
GEOJSON = "application/geo+json"
CSV = "text/csv; charset=utf-8"
COUNT_COLUMNS = ("unit", "unit_name", "tier", "category", "category_name", "received", "closed", "closed_on_time")
POINT_COLUMNS = ("lon", "lat", "category", "category_name", "district", "day", "closed")
# what a publication freezes of each scenario: the registry's public fields as they stood that month
SCENARIO_FIELDS = (
    *("code", "name", "name_en", "field", "status", "owner_unit", "owner_unit_name", "owner_department"),
    *("description", "description_en", "categories", "sources"),
)

STORED = "SELECT manifest, signature, key_id, public_key, published_at, published_by FROM publication WHERE month = %s"
FILE = "SELECT media_type, body FROM publication_file WHERE month = %s AND name = %s"
FILES = "SELECT name, body FROM publication_file WHERE month = %s ORDER BY name"
MONTHS = "SELECT to_char(month, 'YYYY-MM') FROM publication ORDER BY month DESC"
INSERT = """
INSERT INTO publication (month, published_by, manifest, signature, key_id, public_key)
VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (month) DO NOTHING RETURNING month
"""
INSERT_FILE = "INSERT INTO publication_file (month, name, media_type, body, sha256) VALUES (%s, %s, %s, %s, %s)"
# months with cases that ended before %s and are not yet published, oldest first
UNPUBLISHED = """
SELECT DISTINCT to_char(date_trunc('month', e.created_at AT TIME ZONE %s), 'YYYY-MM') AS month
FROM case_file e
WHERE e.created_at < %s
  AND NOT EXISTS (SELECT FROM publication p WHERE p.month = date_trunc('month', e.created_at AT TIME ZONE %s)::date)
ORDER BY 1
"""
CITY = "SELECT code, name FROM unit WHERE parent_id IS NULL ORDER BY id LIMIT 1"


def canonical(value: Any) -> bytes:
    """JSON with sorted keys, UTF-8 and a final newline: equal values, equal bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def _csv(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> bytes:
    """CSV with a header, UTF-8 with a byte-order mark (so Excel reads the Chinese names)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return "\ufeff".encode() + text.getvalue().encode()


def _district_totals(figures: dict[str, Any]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {
        d["code"]: {"received": 0, "closed": 0, "closed_on_time": 0} for d in figures["districts"]
    }
    for row in figures["unit_counts"]:
        if row["tier"] == "district":
            for name in ("received", "closed", "closed_on_time"):
                totals[row["unit"]][name] += row[name]
    return totals


def _files(
    figures: dict[str, Any], city: dict[str, str], registry: list[dict[str, Any]]
) -> dict[str, tuple[str, bytes]]:
    """The month's files by name: (media type, bytes)."""
    totals = _district_totals(figures)
    summary = {
        "month": figures["month"],
        "city": city,
        "scenarios": [
            {
                **{name: scenario[name] for name in SCENARIO_FIELDS},
                "indicators": figures["scenarios"].get(scenario["code"]),
            }
            for scenario in registry
            if scenario["status"] != "planned"
        ],
        "districts": [{"code": d["code"], "name": d["name"], **totals[d["code"]]} for d in figures["districts"]],
    }
    counts_geojson = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": d["code"],
                "geometry": d["geometry"],
                "properties": {"code": d["code"], "name": d["name"], "month": figures["month"], **totals[d["code"]]},
            }
            for d in figures["districts"]
        ],
    }
    points = [
        {"lon": p["lonlat"][0], "lat": p["lonlat"][1], **{k: p[k] for k in POINT_COLUMNS[2:]}}
        for p in figures["points"]
    ]
    points_geojson = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [p["lon"], p["lat"]]},
                "properties": {k: p[k] for k in POINT_COLUMNS[2:]},
            }
            for p in points
        ],
    }
    return {
        "summary.json": (JSON, canonical(summary)),
        "counts.csv": (CSV, _csv(COUNT_COLUMNS, figures["unit_counts"])),
        "counts.geojson": (GEOJSON, canonical(counts_geojson)),
        "points.csv": (CSV, _csv(POINT_COLUMNS, points)),
        "points.geojson": (GEOJSON, canonical(points_geojson)),
    }


def manifest(month: Month, city: dict[str, str], files: dict[str, tuple[str, bytes]], pem: str) -> bytes:
    """What is signed: the month, the city, the key, and each file's type, size and SHA-256."""
    listed = [
        {"name": name, "media_type": kind, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        for name, (kind, body) in sorted(files.items())
    ]
    return canonical({"publisher": city, "month": month.label, "key_id": key_id(pem), "files": listed})


async def _city(conn: psycopg.AsyncConnection) -> dict[str, str]:
    row = await (await conn.execute(CITY)).fetchone()
    if row is None:
        raise NotFoundError("no city loaded: load the boundaries first")
    return {"code": row[0], "name": row[1]}


async def build(conn: psycopg.AsyncConnection, month: Month, pem: str) -> tuple[bytes, dict[str, tuple[str, bytes]]]:
    """The manifest and files ``month`` would have if it were published from today's data."""
    city = await _city(conn)
    files = _files(await month_figures(conn, month), city, await scenarios.listed(conn))
    return manifest(month, city, files, pem), files


@dataclass(frozen=True)
class Publication:
    """A month as published: the signed manifest, the signature, the public key it verifies with."""

    month: str
    manifest: bytes
    signature: bytes
    key_id: str
    public_key_pem: str
    published_at: datetime
    published_by: str


@dataclass(frozen=True)
class Published:
    """What ``publish`` did: published the month now, or found it published (and whether today's data differs)."""

    publication: Publication
    now: bool
    differs_today: bool


async def publish(
    conn: psycopg.AsyncConnection, month: Month, key: Ed25519PrivateKey, actor: str, now: datetime
) -> Published:
    """Freeze ``month`` (ended) as signed files; a published month comes back as it was, never rewritten."""
    if not month.is_over(now):
        raise InvalidInputError(f"{month.label} has not ended; a month is published once it is over")
    pem = public_pem(key)
    built, files = await build(conn, month, pem)
    async with conn.transaction():  # two publishers at once: the primary key lets one write, the other reads it
        inserted = await (
            await conn.execute(INSERT, (month.first_day, actor, built, key.sign(built), key_id(pem), pem))
        ).fetchone()
        if inserted is not None:
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    INSERT_FILE,
                    [
                        (month.first_day, name, kind, body, hashlib.sha256(body).hexdigest())
                        for name, (kind, body) in sorted(files.items())
                    ],
                )
            digest = hashlib.sha256(built).hexdigest()
            await record_async(conn, actor, "publication.published", month.label, manifest_sha256=digest)
    stored = await publication(conn, month)
    if inserted is not None:
        return Published(stored, now=True, differs_today=False)
    today = manifest(month, await _city(conn), files, stored.public_key_pem)
    return Published(stored, now=False, differs_today=today != stored.manifest)


async def publication(conn: psycopg.AsyncConnection, month: Month) -> Publication:
    """The publication of ``month``, or NotFoundError."""
    row = await (await conn.execute(STORED, (month.first_day,))).fetchone()
    if row is None:
        raise NotFoundError(f"{month.label} has not been published")
    body, signature, kid, pem, at, by = row
    return Publication(month.label, bytes(body), bytes(signature), kid, pem, at, by)


async def ended_months_with_cases(conn: psycopg.AsyncConnection, now: datetime) -> list[str]:
    """The months (``YYYY-MM``) with cases that have ended by ``now`` and are not published yet, oldest first."""
    zone = str(CHINA)
    this_month = Month(now.astimezone(CHINA).date().replace(day=1))
    rows = await (await conn.execute(UNPUBLISHED, (zone, this_month.start, zone))).fetchall()
    return [row[0] for row in rows]


async def published_months(conn: psycopg.AsyncConnection) -> list[str]:
    """The published months, newest first."""
    return [row[0] for row in await (await conn.execute(MONTHS)).fetchall()]


async def published_file(conn: psycopg.AsyncConnection, month: Month, name: str) -> tuple[str, bytes]:
    """One file of a publication (media type, bytes), or NotFoundError."""
    row = await (await conn.execute(FILE, (month.first_day, name))).fetchone()
    if row is None:
        raise NotFoundError(f"{month.label} has no published file {name}")
    return row[0], bytes(row[1])


async def summary(conn: psycopg.AsyncConnection, month: Month) -> dict[str, Any]:
    """The month's published summary (scenarios, indicators, district totals)."""
    return orjson.loads((await published_file(conn, month, "summary.json"))[1])


async def verify(conn: psycopg.AsyncConnection, month: Month) -> list[str]:
    """What is wrong with a stored publication: a bad signature, a file altered, missing or added; [] when sound."""
    stored = await publication(conn, month)
    problems = (
        []
        if signature_holds(stored.public_key_pem, stored.manifest, stored.signature)
        else ["the manifest's signature does not hold"]
    )
    listed = {entry["name"]: entry["sha256"] for entry in orjson.loads(stored.manifest)["files"]}
    held = {
        name: hashlib.sha256(bytes(body)).hexdigest()
        for name, body in await (await conn.execute(FILES, (month.first_day,))).fetchall()
    }
    for name in sorted(listed.keys() | held.keys()):
        if name not in held:
            problems.append(f"{name} is listed but missing")
        elif name not in listed:
            problems.append(f"{name} is stored but not listed")
        elif held[name] != listed[name]:
            problems.append(f"{name} differs from its listed SHA-256")
    return problems
