"""GeoAlchemy2 models of the spatial store (tables are created by Alembic, never create_all)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Identity,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from spatial.tiers import Tier, UnitKind


def _values(enum: type) -> list[str]:
    return [member.value for member in enum]


TIER = Enum(Tier, name="tier", values_callable=_values)
UNIT_KIND = Enum(UnitKind, name="unit_kind", values_callable=_values)


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base for every table of the platform."""


class BoundaryVersion(Base):
    """One import of one tier: where it came from, what it contained, what the checks said."""

    __tablename__ = "boundary_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tier: Mapped[Tier] = mapped_column(TIER)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    unit_count: Mapped[int] = mapped_column(Integer)
    report: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Unit(Base):
    """A unit of the hierarchy: city, district, street, community, grid or building.

    ``parent_id`` is the management parent (江北新区 for its seven streets); ``admin_parent_id``
    the administrative one (浦口区/六合区). ``ancestors`` caches both chains, and ``chain``
    the same units (plus this one) as JSON text, so that locate answers with one row, and
    ``has_buildings`` lets locate skip the building probe where there is nothing to find.
    """

    __tablename__ = "unit"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(Text)
    tier: Mapped[Tier] = mapped_column(TIER, index=True)
    kind: Mapped[UnitKind] = mapped_column(UNIT_KIND, default=UnitKind.ADMINISTRATIVE)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    admin_parent_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    ancestors: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), default=list)
    chain: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    has_buildings: Mapped[bool] = mapped_column(Boolean, default=False)
    geom: Mapped[WKBElement] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True, nullable=False))
    area_m2: Mapped[float] = mapped_column(Float)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    boundary_version_id: Mapped[int] = mapped_column(ForeignKey("boundary_version.id"))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class H3Coverage(Base):
    """One build of the H3 → unit coverage: which tier and resolution, when, how many cells."""

    __tablename__ = "h3_coverage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tier: Mapped[Tier] = mapped_column(TIER)
    resolution: Mapped[int] = mapped_column(Integer)
    interior_cells: Mapped[int] = mapped_column(Integer)
    boundary_cells: Mapped[int] = mapped_column(Integer)
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class H3Cell(Base):
    """A cell of the current coverage: interior (one unit) or boundary (candidates to test)."""

    __tablename__ = "h3_cell"

    cell: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    candidates: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))


class UnitPiece(Base):
    """The coverage tier cut into pieces of at most 64 vertices (ST_Subdivide) for fast exact tests."""

    __tablename__ = "unit_piece"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POLYGON", srid=4326, spatial_index=True, nullable=False))


class Category(Base):
    """A case category (GB/T 30428 小类) with its filing/closing standard and time limit."""

    __tablename__ = "category"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    type: Mapped[str] = mapped_column(String(16))  # component (部件) | event (事件)
    major_code: Mapped[str] = mapped_column(String(4))
    major_name: Mapped[str] = mapped_column(Text)
    major_name_en: Mapped[str] = mapped_column(Text)
    minor_code: Mapped[str] = mapped_column(String(4))
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    filing_condition: Mapped[str] = mapped_column(Text)
    closing_condition: Mapped[str] = mapped_column(Text)
    time_limit: Mapped[float] = mapped_column(Float)
    limit_kind: Mapped[str] = mapped_column(String(16))
    responsible_tier: Mapped[Tier] = mapped_column(TIER)
    departments: Mapped[list[str]] = mapped_column(ARRAY(Text))
    duplicate_radius_m: Mapped[float] = mapped_column(Float)
    duplicate_window_hours: Mapped[float] = mapped_column(Float)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


SEVERITY = Enum("IV", "III", "II", "I", name="severity")
REPORT_SOURCE = Enum("grid_worker", "hotline", "citizen_app", "sensor", "department", name="report_source")


class Event(Base):
    """A case: one incident, routed once, however many reports describe it."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("category.code"))
    severity: Mapped[str] = mapped_column(SEVERITY)
    state: Mapped[str] = mapped_column(Text, server_default="reported")
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True, nullable=False))
    cell: Mapped[int] = mapped_column(BigInteger, index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    responsible_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    departments: Mapped[list[str]] = mapped_column(ARRAY(Text))
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    routing_trace: Mapped[dict[str, Any]] = mapped_column(JSONB)
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    report_count: Mapped[int] = mapped_column(Integer, server_default="1")
    source: Mapped[str | None] = mapped_column(REPORT_SOURCE)  # channel of the first report
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    external_id: Mapped[str | None] = mapped_column(Text, unique=True)  # historic imports
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batch.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Report(Base):
    """One submission; its reporter contact is personal data and stays here."""

    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("idempotency_owner", "idempotency_key", name="report_idempotency_key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    source: Mapped[str] = mapped_column(REPORT_SOURCE)
    reporter: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False, nullable=False))
    given: Mapped[dict[str, Any]] = mapped_column(JSONB)
    idempotency_owner: Mapped[str | None] = mapped_column(Text)  # who filed it: a key is unique per caller
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    request_hash: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(UUID, unique=True, server_default=func.gen_random_uuid())  # public handle
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Media(Base):
    """A photo or video, stored once under its SHA-256 however many reports attach it."""

    __tablename__ = "media"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ReportMedia(Base):
    """Which media a report carries, in the order the reporter attached them."""

    __tablename__ = "report_media"

    report_id: Mapped[int] = mapped_column(ForeignKey("report.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("media.sha256"), primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    filename: Mapped[str | None] = mapped_column(Text)


class CaseMerge(Base):
    """One merge or split: a report (or a whole case) moved from one case to another, and why."""

    __tablename__ = "case_merge"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(Enum("auto", "manual", "split", name="merge_kind"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"), index=True)
    from_event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    to_event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    distance_m: Mapped[float | None] = mapped_column(Float)
    similarity: Mapped[float | None] = mapped_column(Float)
    actor: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ImportBatch(Base):
    """One historic-events file loaded: how many rows were read, loaded and rejected."""

    __tablename__ = "import_batch"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    rows_read: Mapped[int] = mapped_column(Integer)
    rows_loaded: Mapped[int] = mapped_column(Integer)
    rows_rejected: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
