"""The exchange format: a city's cases and their moves as JSON lines, with a signed manifest.

An export is a directory (``cityops export``): ``manifest.json`` — the source (``urn:cityops:<city>``),
when, the counts, and each part file's record type, rows, size and SHA-256 — its Ed25519 signature
``manifest.sig`` and the public key ``manifest.pub``; then the parts, each one JSON object per line:
``case.record`` lines (``cases-NNN.ndjson``) and ``case.transition`` lines (``transitions-NNN.ndjson``).
The records' JSON Schemas are served beside the change events' (``/api/v1/changes/schemas/case.record``,
``…/case.transition``) and written from these models. Parts make the export parallel (one per block range
of the tables, as ``pg_dump -j`` splits by table) and let a reader stream each file.

A transition names its case by the source's case ``number``; the case record carries the number and its
source ``id`` — the key an importer keeps (``case_file.external_id``), so importing twice adds nothing.
Reporters, their contacts, photos and internal ids of units are not in the format: units are named by
code, which both sides share.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from command.case_states import CaseState
from spatial.sources import SOURCES

FORMAT = "cityops-exchange/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "manifest.pub"
States = Literal[tuple(state.value for state in CaseState)]  # type: ignore[valid-type]
Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_-]+$")]
Text = Annotated[str, Field(max_length=4000)]


def _no_nul(value: str) -> str:
    """PostgreSQL text holds no NUL character; say so instead of failing the whole load."""
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


Clean = Annotated[str, AfterValidator(_no_nul)]


class CaseRecord(BaseModel):
    """A case as its source holds it after its last move (one line of a ``cases-*.ndjson`` part)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[Clean, Field(min_length=1, max_length=120, description="The source's case id: the import key")]
    number: int = Field(ge=1, description="The source's case number; transitions name their case by it")
    category: Code = Field(description="GB/T 30428 category code")
    severity: Literal["I", "II", "III", "IV"]
    state: States  # type: ignore[valid-type]
    source: Literal[SOURCES] | None = Field(description="How the case was reported")  # type: ignore[valid-type]
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    address: Annotated[Clean, Field(max_length=400)] | None
    description: Annotated[Clean, Text]
    filed_at: AwareDatetime
    deadline: AwareDatetime
    closed_at: AwareDatetime | None
    created_at: AwareDatetime
    responsible_unit: Code = Field(description="Code of the unit responsible (both sides share the codes)")
    grid: Code = Field(description="Code of the grid the case lies in at the source")
    departments: list[Annotated[Clean, Field(min_length=1, max_length=64)]]
    handling_department: Annotated[Clean, Field(max_length=64)] | None
    dispatched_at: AwareDatetime | None
    version: int = Field(ge=0)
    rule: Annotated[Clean, Field(max_length=400)] | None = Field(description="The routing rule the source applied")


class TransitionRecord(BaseModel):
    """One move of a case, as its source made it (one line of a ``transitions-*.ndjson`` part)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case: int = Field(ge=1, description="The case's number at the source (``CaseRecord.number``)")
    seq: int = Field(ge=1, description="The move's place in the case's chain, from 1")
    action: Annotated[Clean, Field(min_length=1, max_length=40)]
    from_state: Literal[""] | States  # type: ignore[valid-type]
    to_state: States  # type: ignore[valid-type]
    actor: Annotated[Clean, Field(min_length=1, max_length=200)]
    role: Annotated[Clean, Field(max_length=64)] | None
    unit: Code | None
    department: Annotated[Clean, Field(max_length=64)] | None
    at: AwareDatetime
    note: Annotated[Clean, Text]
    lon: float | None = Field(ge=-180, le=180)
    lat: float | None = Field(ge=-90, le=90)
    grid: Code | None
    due: AwareDatetime | None
    deadline: AwareDatetime | None
    since: AwareDatetime | None
    detail: dict[str, Any] | None
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="The move's hash in the source's chain")


RECORDS: dict[str, type[BaseModel]] = {"case.record": CaseRecord, "case.transition": TransitionRecord}


class PartFile(BaseModel):
    """One part of an export as its manifest lists it."""

    name: str = Field(pattern=r"^(cases|transitions)-[0-9]{3}\.ndjson$")
    type: Literal["case.record", "case.transition"]
    rows: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Manifest(BaseModel):
    """What an export holds, signed by its source (``manifest.sig`` over the file's exact bytes)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["cityops-exchange/1"]
    source: str = Field(pattern=r"^urn:cityops:[a-z0-9_]+$")
    exported_at: datetime
    cases: int = Field(ge=0)
    transitions: int = Field(ge=0)
    schemas: dict[str, str]
    files: list[PartFile]


def record_schema(record_type: str) -> dict[str, Any]:
    """The JSON Schema of one line of a part of ``record_type``."""
    schema = RECORDS[record_type].model_json_schema()
    return {**schema, "$schema": "https://json-schema.org/draft/2020-12/schema", "title": f"cn.cityops.{record_type}"}
