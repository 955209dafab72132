"""Neighbouring cities this city knows, and the signature on every message between them.

A peer is registered once on each side (``cityops peers add``, from the file the other side printed with
``cityops peers self``): its city name, its city unit code, its address, its Ed25519 public key and its
boundary. Messages are signed the Standard Webhooks way with the asymmetric scheme (``webhook-id``,
``webhook-timestamp``, ``webhook-signature: v1a,<Ed25519 over "id.timestamp.body">``) with the platform's
key — the one its publications are signed with — so a peer checks them with the public key alone and no
secret crosses the line. A message older than five minutes, or one whose id was already received
(``peer_inbox``), is refused: a replay cannot open a second case or rewind a state.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
import shapely
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, field_validator
from shapely.geometry import MultiPolygon, Polygon, shape

from exchange.changes import source
from spatial.audit import record_async
from spatial.errors import InvalidInputError, NotFoundError, UnauthenticatedError

TOLERANCE_S = 300
ADD = """
INSERT INTO peer (city, name, code, url, public_key, boundary, added_by)
VALUES (%(city)s, %(name)s, %(code)s, %(url)s, %(public_key)s, ST_Multi(ST_GeomFromText(%(boundary)s, 4326)), %(by)s)
ON CONFLICT (city) DO UPDATE SET name = excluded.name, code = excluded.code, url = excluded.url,
    public_key = excluded.public_key, boundary = excluded.boundary, added_by = excluded.added_by, added_at = now()
"""
COLUMNS = "city, name, code, url, public_key"
COVERING = f"SELECT {COLUMNS} FROM peer WHERE ST_Intersects(boundary, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) LIMIT 1"
ONE = f"SELECT {COLUMNS} FROM peer WHERE city = %s"
ALL = f"SELECT {COLUMNS}, ST_AsGeoJSON(boundary, 6) FROM peer ORDER BY city"
REMEMBER = "INSERT INTO peer_inbox (peer, message_id) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1"
SELF = """
SELECT code, name, ST_AsGeoJSON(ST_Multi(ST_Union(geom)), 6) FROM unit
WHERE parent_id IS NULL GROUP BY code, name ORDER BY code LIMIT 1
"""


class PeerIn(BaseModel):
    """A neighbour as registered: what ``cityops peers self`` prints on its side."""

    model_config = ConfigDict(extra="forbid")

    city: str = Field(pattern=r"^[a-z0-9_]+$", max_length=63, description="Its city name: urn:cityops:<city>")
    name: str = Field(min_length=1, max_length=100)
    code: str = Field(pattern=r"^[0-9]{6}$", description="Its city unit code; its units' codes start with 4 of it")
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000)
    public_key: str = Field(description="PEM of its Ed25519 public key")
    boundary: dict[str, Any] = Field(description="GeoJSON (Multi)Polygon of the city, WGS84")

    @field_validator("public_key")
    @classmethod
    def _ed25519(cls, value: str) -> str:
        try:
            key = serialization.load_pem_public_key(value.encode())
        except ValueError as error:
            raise ValueError("is not a PEM public key") from error
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("must be an Ed25519 public key")
        return value

    @field_validator("boundary")
    @classmethod
    def _area(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            geometry = shape(value)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"is not GeoJSON geometry: {error}") from error
        if not isinstance(geometry, Polygon | MultiPolygon) or geometry.is_empty:
            raise ValueError("must be a Polygon or MultiPolygon")
        if not geometry.is_valid:
            raise ValueError(f"is not a valid area: {shapely.is_valid_reason(geometry)}")
        minx, miny, maxx, maxy = geometry.bounds
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise ValueError("must be in WGS84 longitude and latitude")
        return value

    @property
    def urn(self) -> str:
        """Its CloudEvents source and message origin."""
        return source(self.city)


@dataclass(frozen=True)
class Peer:
    """A registered neighbour."""

    city: str
    name: str
    code: str
    url: str
    public_key: str

    @property
    def unit_prefix(self) -> str:
        """What every unit code of the city starts with (a prefecture-level code's first four digits)."""
        return self.code[:4]

    def endpoint(self, own_city: str, path: str = "") -> str:
        """The peer's handover address for messages from ``own_city``."""
        return f"{self.url.rstrip('/')}/api/v1/peers/{own_city}/handovers{path}"


async def add(conn: psycopg.AsyncConnection, peer: PeerIn, actor: str) -> None:
    """Register (or re-register) a neighbour; audited."""
    boundary = shape(peer.boundary).wkt
    values = peer.model_dump() | {"boundary": boundary, "by": actor}
    async with conn.transaction():
        await conn.execute(ADD, values)
        await record_async(conn, actor, "peer.registered", peer.urn, url=peer.url, code=peer.code)


async def listed(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    """Every neighbour with its boundary (GeoJSON)."""
    rows = await (await conn.execute(ALL)).fetchall()
    names = ("city", "name", "code", "url", "public_key")
    return [dict(zip(names, row[:5], strict=True)) | {"boundary": orjson.loads(row[5])} for row in rows]


async def covering(conn: psycopg.AsyncConnection, lon: float, lat: float) -> Peer | None:
    """The neighbour whose boundary holds the point, if any."""
    row = await (await conn.execute(COVERING, (lon, lat))).fetchone()
    return Peer(*row) if row else None


async def named(conn: psycopg.AsyncConnection, city: str) -> Peer:
    """The neighbour ``city``, or NotFoundError."""
    row = await (await conn.execute(ONE, (city,))).fetchone()
    if row is None:
        raise NotFoundError(f"{city} is not a registered peer city")
    return Peer(*row)


async def own_description(conn: psycopg.AsyncConnection, city: str, url: str, public_pem: str) -> dict[str, Any]:
    """What a neighbour registers this city by (``cityops peers self``)."""
    row = await (await conn.execute(SELF)).fetchone()
    if row is None:
        raise NotFoundError("no city loaded: load the boundaries first")
    code, name, boundary = row
    described = {"city": city, "name": name, "code": code, "url": url, "public_key": public_pem}
    return described | {"boundary": orjson.loads(boundary)}


def signed_headers(key: Ed25519PrivateKey, message_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """Standard Webhooks headers with the asymmetric (v1a, Ed25519) signature."""
    stamp = str(int(time.time() if now is None else now))
    signature = key.sign(f"{message_id}.{stamp}.".encode() + body)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1a," + base64.b64encode(signature).decode(),
    }


async def check_message(conn: psycopg.AsyncConnection, peer: Peer, headers: dict[str, str], body: bytes) -> None:
    """UnauthenticatedError unless the message is signed by ``peer``'s key, fresh, and not seen before."""
    message_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    given = [s.removeprefix("v1a,") for s in headers.get("webhook-signature", "").split() if s.startswith("v1a,")]
    if not message_id or not stamp.isdigit() or not given:
        raise UnauthenticatedError("sign the message: webhook-id, webhook-timestamp and a v1a webhook-signature")
    if abs(time.time() - int(stamp)) > TOLERANCE_S:
        raise UnauthenticatedError(f"the message's timestamp is more than {TOLERANCE_S} s from this server's clock")
    public = serialization.load_pem_public_key(peer.public_key.encode())
    assert isinstance(public, Ed25519PublicKey)  # checked when the peer was registered
    signed = f"{message_id}.{stamp}.".encode() + body
    if not any(_holds(public, candidate, signed) for candidate in given):
        raise UnauthenticatedError(f"the signature does not hold for {peer.name}'s registered key")
    if await (await conn.execute(REMEMBER, (peer.city, message_id))).fetchone() is None:
        raise UnauthenticatedError(f"message {message_id} was received already (a replay)")


def _holds(public: Ed25519PublicKey, encoded: str, signed: bytes) -> bool:
    try:
        public.verify(base64.b64decode(encoded, validate=True), signed)
    except (InvalidSignature, ValueError):
        return False
    return True


def parse_peer(raw: bytes) -> PeerIn:
    """A peer file (JSON) as ``PeerIn``, or InvalidInputError naming the first problem."""
    try:
        return PeerIn.model_validate_json(raw)
    except ValueError as error:
        raise InvalidInputError(f"not a peer description: {error}") from error
