"""Historic events in bulk: millions of past cases from CSV or GeoJSON, validated, located, routed.

Everything that can be is done on whole columns: parsing and validation (pandas), the datum
change (numpy), locate (``BatchLocator``: H3 coverage, exact test only on boundary cells),
responsibility (once per distinct grid × wanted tier, not per row), deadlines (the working-time
clock of ``WorkingCalendar.deadlines``). Rows stream to PostgreSQL in one ``COPY`` — the client
prepares the next chunk while the server stores the last — inside one transaction, so a failure
leaves nothing behind and the run can simply be repeated.

A row that fails a check goes to the reject file with its line and the reason; every valid row
is loaded. Each event keeps its source id (``external_id``, unique): importing the same file
twice adds nothing the second time, the rows are reported as already imported. Without an
``id`` column the id is the file's hash and the line, which is as stable as the file.

Loading more rows than the table holds (at least ``BULK_MIN_ROWS``) switches to bulk mode: the
case table's secondary indexes, foreign keys and the unique source id are dropped for the load and
rebuilt after (one sorted index build and one set-based key check beat a million incremental ones:
300,000 events into an empty table took 26.8 s incremental, 12.9 s in bulk mode; the ids were
checked against the file and the table before, under the import's lock). Bulk mode locks the case
table for the transaction, so live intake waits for the import to finish.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyogrio
import shapely
from psycopg import Connection
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import Engine

from command.case_states import CaseState
from command.queries.historic_import import BULK_OBJECTS_SQL, KNOWN_IDS_SQL, OPEN_CLOCKS, UNITS_SQL
from command.routing import SEVERITY_NAMES, Severity, responsible_unit, rule_text, wanted_tier
from command.taxonomy import CATEGORY_SQL, Category, category_from_row
from command.working_time import WALL_CLOCK, WorkingCalendar
from grid.locate import BatchLocator, UnitRef, parse_chain
from spatial.audit import RECORD_SQL, entry
from spatial.china_coords import SourceCrs, to_wgs84
from spatial.driver import psycopg_connection
from spatial.errors import InvalidInputError
from spatial.hexwkb import as_arrow, h3_hex, points_ewkb_hex
from spatial.hierarchy import file_sha256
from spatial.rows import one
from spatial.sources import SOURCES
from spatial.tiers import Tier

REQUIRED = ("lon", "lat", "category", "reported_at")
OPTIONAL = ("id", "severity", "source", "description", "address", "state", "closed_at")
STATES = (CaseState.REPORTED, CaseState.CLOSED)  # a historic case is still waiting or done
MAX_DESCRIPTION = 4000
CHUNK_ROWS = 100_000
SEVERITY_ORDER = [s.value for s in Severity]
TIER_AT_DEPTH = {tier.depth: tier for tier in Tier}
BULK_MIN_ROWS = 100_000
# a load of at least this share of the cases already there restates the planner's statistics at once:
# until autovacuum came round, the new rows were planned by the old numbers (a city's 35,000 cases read
# as 160, so the wall's figures sorted and looped where one scan and a hash would do)
RESTATE_SHARE = 0.2
RESTATE = "ANALYZE case_file, case_clock, case_transition"
CASE_COLUMNS = (
    "external_id",
    "import_batch_id",
    "category_code",
    "severity",
    "state",
    "geom",
    "cell",
    "grid_id",
    "responsible_unit_id",
    "departments",
    "filed_at",
    "deadline",
    "closed_at",
    "routing_trace",
    "description",
    "address",
    "source",
    "report_count",
    "created_at",
    "updated_at",
    "units",
)
Progress = Callable[[str, float], None]
Settle = Callable[[Connection, int], None]
COPY_CASES = f"COPY case_file ({', '.join(CASE_COLUMNS)}) FROM STDIN (FORMAT csv)"
ALL_CATEGORIES_SQL = CATEGORY_SQL.replace(" WHERE code = %s", "")


@dataclass(frozen=True)
class ImportResult:
    """What one import did."""

    source: str
    batch_id: int
    rows_read: int
    loaded: int
    rejected: int
    rejects_path: Path | None
    bulk: bool
    seconds: float
    uncovered_deadlines: int = 0  # cases whose working time ran through a year the holiday calendar lacks
    uncovered_years: tuple[int, ...] = ()

    @property
    def rate(self) -> float:
        """Rows read per second, end to end."""
        return self.rows_read / self.seconds if self.seconds else 0.0


def read_cases(path: Path) -> pd.DataFrame:
    """Every column as text (so bad values are rejected per row, not per file), plus ``line``."""
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
        # every column as text: inferring numbers would turn category 020101 into 20101
        options = pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True)
        try:
            frame = pacsv.read_csv(path, convert_options=options).to_pandas(types_mapper=pd.ArrowDtype)
        except pa.ArrowInvalid as exc:
            raise InvalidInputError(f"{path.name}: not a readable CSV ({exc})") from None
        frame = frame.astype("string")
        frame["line"] = np.arange(2, len(frame) + 2)  # line 1 is the header
    elif suffix in (".geojson", ".json"):
        frame = pyogrio.read_dataframe(path, use_arrow=True)
        points = frame.geometry.values
        if not (shapely.get_type_id(points) == 0).all():
            raise InvalidInputError(f"{path.name}: every feature must be a Point")
        lon, lat = shapely.get_x(points), shapely.get_y(points)
        frame = pd.DataFrame(frame.drop(columns="geometry")).astype("string")
        frame["lon"], frame["lat"] = lon.astype(str), lat.astype(str)
        frame["line"] = np.arange(1, len(frame) + 1)  # feature number
    else:
        raise InvalidInputError(f"{path.name}: historic events come as .csv or .geojson")
    missing = [column for column in REQUIRED if column not in frame.columns]
    if missing:
        raise InvalidInputError(f"{path.name}: missing column(s) {missing}; required: {list(REQUIRED)}")
    unknown = sorted(set(frame.columns) - set(REQUIRED) - set(OPTIONAL) - {"line"})
    if unknown:
        raise InvalidInputError(f"{path.name}: unknown column(s) {unknown}; optional: {list(OPTIONAL)}")
    for column in OPTIONAL:
        if column not in frame.columns:
            frame[column] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame


def _timestamps(values: pd.Series, calendar: WorkingCalendar) -> pd.Series:
    """ISO 8601 text → UTC; a time without an offset is read in the calendar's zone."""
    text_values = values.astype("string").str.strip()
    zoned = text_values.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True, na=False)
    result = pd.to_datetime(text_values.where(zoned), format="ISO8601", utc=True, errors="coerce")
    naive = pd.to_datetime(text_values.where(~zoned), format="ISO8601", errors="coerce")
    result[~zoned] = naive[~zoned].dt.tz_localize(calendar.zone).dt.tz_convert(UTC)
    return result


def _numbers(column: pd.Series) -> np.ndarray:
    """Text to float, NaN where it is not a number (Arrow's cast first: a clean column parses at C speed)."""
    try:
        return pc.cast(pa.array(column, pa.string()), pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


class Checks:
    """Collects the first reason each row fails, column by column."""

    def __init__(self, rows: int) -> None:
        self.reason = np.full(rows, None, dtype=object)

    def fail(self, bad: np.ndarray | pd.Series, reason: str | np.ndarray) -> None:
        """Record ``reason`` for rows that are ``bad`` and have no reason yet."""
        mask = np.asarray(bad, dtype=bool) & (self.reason == None)  # noqa: E711 - elementwise
        self.reason[mask] = reason[mask] if isinstance(reason, np.ndarray) else reason

    @property
    def ok(self) -> np.ndarray:
        """Rows that passed every check so far."""
        return self.reason == None  # noqa: E711 - elementwise


@dataclass(frozen=True)
class Valid:
    """A chunk's rows after the checks that need no database (WGS84 positions, UTC times)."""

    checks: Checks
    lon: np.ndarray
    lat: np.ndarray
    filed: pd.Series
    closed: pd.Series


SEVERITIES = {
    **{s.value: s.value for s in Severity},
    **{name: s.value for name, s in SEVERITY_NAMES.items()},
    **{s.value.lower(): s.value for s in Severity},
}


def validate(frame: pd.DataFrame, categories: dict[str, Category], crs: SourceCrs, calendar: WorkingCalendar) -> Valid:
    """Every check that needs no database, column by column; normalises the frame in place."""
    checks = Checks(len(frame))
    lon, lat = _numbers(frame["lon"]), _numbers(frame["lat"])
    checks.fail(~(np.isfinite(lon) & np.isfinite(lat)), "lon/lat missing or not a number")
    checks.fail((np.abs(lon) > 180) | (np.abs(lat) > 90), "lon/lat outside the globe (lon ±180, lat ±90)")
    lon, lat = (np.asarray(v, dtype=float) for v in to_wgs84(np.nan_to_num(lon), np.nan_to_num(lat), crs))
    codes = frame["category"].fillna("").str.strip()
    checks.fail(~codes.isin(categories).to_numpy(), ("unknown category " + codes).to_numpy(dtype=object))
    frame["category"] = codes
    frame["severity"] = frame["severity"].fillna("IV").str.strip().map(SEVERITIES)
    checks.fail(frame["severity"].isna().to_numpy(), "severity is not IV, III, II or I (一般 … 特别重大)")
    frame["source"] = frame["source"].fillna("hotline").str.strip()
    checks.fail(~frame["source"].isin(SOURCES).to_numpy(), f"source is not one of {', '.join(SOURCES)}")
    filed = _timestamps(frame["reported_at"], calendar)
    checks.fail(filed.isna().to_numpy(), "reported_at is not an ISO 8601 time")
    checks.fail((filed > pd.Timestamp.now(tz=UTC)).to_numpy(), "reported_at is in the future")
    frame["state"] = frame["state"].fillna(CaseState.CLOSED).str.strip()
    checks.fail(~frame["state"].isin(STATES).to_numpy(), "state is not reported or closed")
    closed = _timestamps(frame["closed_at"], calendar)
    checks.fail((frame["closed_at"].notna() & closed.isna()).to_numpy(), "closed_at is not an ISO 8601 time")
    checks.fail((closed < filed).to_numpy(), "closed_at is before reported_at")
    names = codes.map({code: category.name for code, category in categories.items()})
    frame["description"] = frame["description"].str.strip().replace("", pd.NA).fillna(names)
    too_long = (frame["description"].str.len() > MAX_DESCRIPTION).to_numpy(dtype=bool, na_value=False)
    checks.fail(too_long, "description over 4,000 characters")
    return Valid(checks, lon, lat, filed, closed)


class Router:
    """Routing of many rows: each distinct (grid, wanted tier) and each distinct rule decided once."""

    def __init__(
        self,
        categories: dict[str, Category],
        grids: dict[int, tuple[str, int, str]],
        unit_ids: dict[str, int],
        calendar: WorkingCalendar,
    ) -> None:
        self.categories, self.grids, self.unit_ids, self.calendar = categories, grids, unit_ids, calendar
        self.uncovered_deadlines, self.uncovered_years = 0, set[int]()  # counted as Monday–Friday: reported
        self._decided: dict[tuple[int, Tier], tuple[UnitRef, Tier]] = {}
        self._rules: dict[tuple[str, str, str], str] = {}
        grid_ids = np.array(sorted(grids), dtype=np.int64)
        self._grid_ids, self._versions = grid_ids, np.array([grids[g][1] for g in grid_ids.tolist()], dtype=np.int64)
        self._units = pa.array([grids[g][2] for g in grid_ids.tolist()], pa.string())

    def _decide(self, grid: int, wanted: Tier) -> tuple[UnitRef, Tier]:
        key = (grid, wanted)
        if key not in self._decided:
            self._decided[key] = responsible_unit(parse_chain(self.grids[grid][0]), wanted)
        return self._decided[key]

    def _rule(self, code: str, severity: Severity, wanted: Tier, unit: UnitRef, tier: Tier) -> str:
        key = (code, severity.value, unit.code)
        if key not in self._rules:
            self._rules[key] = orjson.dumps(rule_text(self.categories[code], severity, wanted, tier, unit)).decode()
        return self._rules[key]

    def versions(self, grids: np.ndarray) -> np.ndarray:
        """Boundary version of each grid."""
        return self._versions[np.searchsorted(self._grid_ids, grids)]

    def units(self, grids: np.ndarray) -> pa.Array:
        """Each grid's unit path as a PostgreSQL array literal (``case_file.units``: the grid and its ancestors)."""
        return self._units.take(pa.array(np.searchsorted(self._grid_ids, grids)))

    def route(self, codes: np.ndarray, severities: np.ndarray, grids: np.ndarray, filed: np.ndarray) -> pd.DataFrame:
        """Responsible unit, routing rule (JSON text) and deadline per row, computed per distinct input."""
        code_of_row, code_values = pd.factorize(codes)
        severity_of_row = pd.Index(SEVERITY_ORDER).get_indexer(severities)
        pair_of_row, pair_keys = pd.factorize(code_of_row * len(SEVERITY_ORDER) + severity_of_row)
        pairs = [(code_values[k // len(SEVERITY_ORDER)], SEVERITY_ORDER[k % len(SEVERITY_ORDER)]) for k in pair_keys]
        wanted = [wanted_tier(self.categories[c], Severity(s)) for c, s in pairs]
        depth = np.array([w.depth for w in wanted], dtype=np.int64)[pair_of_row]
        places, place_of_row = np.unique(grids * 8 + depth, return_inverse=True)  # (grid, wanted tier)
        decided = [self._decide(key // 8, TIER_AT_DEPTH[key % 8]) for key in places.tolist()]
        place_unit = np.array([self.unit_ids[unit.code] for unit, _ in decided], dtype=np.int64)
        responsible = place_unit[place_of_row]
        by_unit = dict(zip(place_unit.tolist(), decided, strict=True))
        rule_keys, rule_of_row = np.unique(pair_of_row.astype(np.int64) << 40 | responsible, return_inverse=True)
        rules = []
        for key in rule_keys.tolist():
            code, severity = pairs[key >> 40]
            unit, tier = by_unit[key & ((1 << 40) - 1)]
            rules.append(self._rule(code, Severity(severity), wanted[key >> 40], unit, tier))
        deadlines = np.empty(len(codes), dtype="datetime64[us]")
        limit_of_code = [self.categories[code].limit for code in code_values]
        limit_of_row, limits = pd.factorize(pd.Series(limit_of_code, dtype=object).iloc[code_of_row].to_numpy())
        for index, limit in enumerate(limits):
            rows = limit_of_row == index
            deadlines[rows] = self.calendar.deadlines(filed[rows], limit)
            if limit.kind not in WALL_CLOCK:
                outside, years = self.calendar.outside_coverage(filed[rows], deadlines[rows])
                self.uncovered_deadlines += int(outside.sum())
                self.uncovered_years.update(years)
        return pd.DataFrame(
            {
                "responsible": responsible,
                "rule": np.array(rules, dtype=object)[rule_of_row],
                "deadline": deadlines,
            }
        )


def _text(column: pd.Series) -> pa.Array:
    return pa.Array.from_pandas(column.astype("string"), type=pa.string())


def _utc(values: pd.Series | np.ndarray) -> pa.Array:
    """UTC times without a zone suffix: the COPY session runs in UTC, and Arrow formats zoned times 20× slower."""
    return pa.array(np.asarray(values, dtype="datetime64[us]"), pa.timestamp("us"))


@dataclass(frozen=True)
class Rows:
    """A chunk's rows that passed every check, located, ready to route and write."""

    frame: pd.DataFrame
    lon: np.ndarray
    lat: np.ndarray
    filed: pd.Series
    closed: pd.Series
    grid_ids: np.ndarray
    cells: np.ndarray
    interior: np.ndarray


def _trace(rows: Rows, routed: pd.DataFrame, router: Router, batch_id: int, resolution: int) -> pa.Array:
    """The routing trace of each row as JSON text, joined column-wise (same keys as live intake, plus the batch)."""
    limits = {
        c: orjson.dumps({"value": cat.time_limit, "kind": cat.limit_kind}).decode()
        for c, cat in router.categories.items()
    }
    return pc.binary_join_element_wise(
        '{"cell":"',
        as_arrow(h3_hex(rows.cells)),
        f'","resolution":{resolution},"index":"',
        pa.array(np.where(rows.interior, "interior", "boundary")),
        '","rule":',
        pa.array(routed["rule"], pa.string()),
        ',"boundary_version":',
        pa.array(router.versions(rows.grid_ids)).cast(pa.string()),
        ',"time_limit":',
        _text(rows.frame["category"].map(limits)),
        f',"import_batch":{batch_id}}}',
        "",
    )


def case_rows(rows: Rows, router: Router, batch_id: int, resolution: int) -> bytes:
    """Good rows as CSV for ``COPY case_file`` (UTC times without suffix: the COPY session runs in UTC)."""
    frame = rows.frame
    filed = rows.filed.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    routed = router.route(
        frame["category"].to_numpy(dtype=object), frame["severity"].to_numpy(dtype=object), rows.grid_ids, filed
    )
    departments = {c: "{" + ",".join(f'"{d}"' for d in cat.departments) + "}" for c, cat in router.categories.items()}
    now = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us")
    table = pa.table(
        {
            "external_id": _text(frame["id"]),
            "import_batch_id": pa.array(np.full(len(frame), batch_id)),
            "category_code": _text(frame["category"]),
            "severity": _text(frame["severity"]),
            "state": _text(frame["state"]),
            "geom": as_arrow(points_ewkb_hex(rows.lon, rows.lat)),
            "cell": pa.array(rows.cells.astype(np.int64)),
            "grid_id": pa.array(rows.grid_ids),
            "responsible_unit_id": pa.array(routed["responsible"]),
            "departments": _text(frame["category"].map(departments)),
            "filed_at": _utc(filed),
            "deadline": _utc(routed["deadline"]),
            "closed_at": _utc(rows.closed.dt.tz_localize(None)),
            "routing_trace": _trace(rows, routed, router, batch_id, resolution),
            "description": _text(frame["description"]),
            "address": _text(frame["address"]),
            "source": _text(frame["source"]),
            "report_count": pa.array(np.zeros(len(frame), dtype=np.int32)),  # the file holds events, not their reports
            "created_at": _utc(filed),
            "updated_at": _utc(np.full(len(frame), now)),
            "units": router.units(rows.grid_ids),
        }
    )
    out = io.BytesIO()
    pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False))
    return out.getvalue()


def _drop_for_bulk(conn: Connection) -> list[tuple[str, str, str]]:
    """Drop the case table's secondary indexes, foreign keys and unique constraints; return how to rebuild them.

    The unique source id too: filled one row at a time its index cost ~0.7 s of the server's 5.3 s COPY of
    300,000 imported cases (random text keys); built sorted after the load, 0.25 s.
    """
    conn.execute("LOCK TABLE case_file IN ACCESS EXCLUSIVE MODE")
    objects = conn.execute(BULK_OBJECTS_SQL).fetchall()
    for kind, name, _ in objects:
        conn.execute(f'DROP INDEX "{name}"' if kind == "index" else f'ALTER TABLE case_file DROP CONSTRAINT "{name}"')
    return objects


def _rebuild(conn: Connection, objects: list[tuple[str, str, str]]) -> None:
    """Indexes in one sorted build each; foreign keys checked once, set-based, when re-added."""
    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for kind, name, definition in objects:
        conn.execute(definition if kind == "index" else f'ALTER TABLE case_file ADD CONSTRAINT "{name}" {definition}')


def _write_rejects(frame: pd.DataFrame, reasons: np.ndarray, path: Path) -> None:
    bad = reasons != None  # noqa: E711 - elementwise
    rejected = frame.loc[bad].copy()
    rejected.insert(0, "reason", reasons[bad])
    columns = ["line", "reason", *[c for c in rejected.columns if c not in ("line", "reason")]]
    rejected[columns].to_csv(path, index=False)


def _reference_data(
    conn: Connection, leaf_ids: np.ndarray
) -> tuple[dict[str, Category], dict[int, tuple[str, int, str]], dict[str, int]]:
    """Categories; chain and boundary version of every unit locate can answer; unit ids by code."""
    categories = {row[0]: category_from_row(row) for row in conn.execute(ALL_CATEGORIES_SQL).fetchall()}
    grids = {row[0]: (row[1], row[2], row[3]) for row in conn.execute(UNITS_SQL, (leaf_ids.tolist(),)).fetchall()}
    unit_ids: dict[str, int] = dict(conn.execute("SELECT code, id FROM unit").fetchall())
    return categories, grids, unit_ids


def import_events(
    engine: Engine,
    path: Path,
    *,
    crs: SourceCrs = SourceCrs.WGS84,
    rejects: Path | None = None,
    bulk: bool | None = None,
    calendar: WorkingCalendar | None = None,
    progress: Progress = lambda *_: None,
    actor: str = "system",
    settle: Settle | None = None,
) -> ImportResult:
    """Load a file of past events; valid rows all land (in one transaction), the rest go to ``rejects``.

    The import is one entry of the audit log (``actor``, the file's name and hash, the counts).
    ``settle(conn, batch_id)`` runs in the same transaction once the rows are stored, before bulk
    mode rebuilds the indexes: what the imported cases went through (the synthetic history's
    transitions) lands with them or not at all, and moving them costs no index maintenance.
    """
    began = datetime.now(UTC)
    calendar = calendar or WorkingCalendar.china()
    progress("reading", 0.0)
    frame = read_cases(path)  # first: it says clearly when the file is missing or malformed
    file_hash = file_sha256(path)
    frame["id"] = frame["id"].str.strip().fillna(file_hash[:16] + ":" + frame["line"].astype(str))
    reasons = np.full(len(frame), None, dtype=object)
    reasons[frame["id"].duplicated(keep="first").to_numpy()] = "id repeats an earlier row of the file"
    with engine.connect() as sa_conn:
        locator = BatchLocator.from_db(sa_conn)
    raw = engine.raw_connection()
    try:
        conn = psycopg_connection(raw)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('cityops:historic-import'))")
            conn.execute("SET LOCAL timezone = 'UTC'")  # the rows carry UTC times without a suffix
            categories, grids, unit_ids = _reference_data(conn, locator.unit_ids)
            router = Router(categories, grids, unit_ids, calendar)
            imported_before = conn.execute(
                "SELECT EXISTS (SELECT FROM case_file WHERE external_id IS NOT NULL)"
            ).fetchone()
            known = conn.execute(KNOWN_IDS_SQL, (frame["id"].tolist(),)).fetchall() if one(imported_before)[0] else []
            already = frame["id"].isin([row[0] for row in known]).to_numpy() & (reasons == None)  # noqa: E711
            reasons[already] = "already imported (same id)"
            batch_id = one(
                conn.execute(
                    "INSERT INTO import_batch (source, sha256, rows_read, rows_loaded, rows_rejected) "
                    "VALUES (%s, %s, %s, 0, 0) RETURNING id",
                    (path.name, file_hash, len(frame)),
                ).fetchone()
            )[0]
            existing = one(conn.execute("SELECT count(*) FROM case_file").fetchone())[0]
            use_bulk = bulk if bulk is not None else len(frame) >= max(BULK_MIN_ROWS, existing)
            rebuild = _drop_for_bulk(conn) if use_bulk else []
            cursor = conn.cursor()
            # the queued writer sends from its own thread: the server stores one chunk while we prepare the next
            with cursor.copy(COPY_CASES, writer=QueuedLibpqWriter(cursor)) as copy:
                for start in range(0, len(frame), CHUNK_ROWS):
                    part = slice(start, start + CHUNK_ROWS)
                    chunk = frame.iloc[part].copy()
                    valid = validate(chunk, categories, crs, calendar)
                    valid.checks.fail(reasons[part] != None, reasons[part])  # noqa: E711
                    good = np.flatnonzero(valid.checks.ok)
                    grid_ids, cells, interior = locator.locate_cells(valid.lon[good], valid.lat[good])
                    outside = np.zeros(len(chunk), dtype=bool)
                    outside[good[grid_ids < 0]] = True
                    valid.checks.fail(outside, "outside the city's grids")
                    inside = grid_ids >= 0
                    keep = good[inside]
                    reasons[part] = valid.checks.reason
                    rows = Rows(
                        chunk.iloc[keep],
                        valid.lon[keep],
                        valid.lat[keep],
                        valid.filed.iloc[keep],
                        valid.closed.iloc[keep],
                        grid_ids[inside],
                        cells[inside],
                        interior[inside],
                    )
                    if len(keep):
                        copy.write(case_rows(rows, router, batch_id, locator.coverage.resolution))
                    progress("loading", min(1.0, (start + CHUNK_ROWS) / len(frame)))
            conn.execute(OPEN_CLOCKS, (batch_id,))
            if settle is not None:
                settle(conn, batch_id)
            if rebuild:
                progress("rebuilding indexes", 0.0)
                _rebuild(conn, rebuild)
            rejected = int((reasons != None).sum())  # noqa: E711
            conn.execute(
                "UPDATE import_batch SET rows_loaded = %s, rows_rejected = %s WHERE id = %s",
                (len(frame) - rejected, rejected, batch_id),
            )
            counts = {"file": path.name, "sha256": file_hash, "loaded": len(frame) - rejected, "rejected": rejected}
            conn.execute(RECORD_SQL, entry(actor, "events.imported", f"import_batch:{batch_id}", counts))
        if len(frame) - rejected >= existing * RESTATE_SHARE:
            progress("updating statistics", 0.0)
            with conn.transaction():
                conn.execute(RESTATE)
    finally:
        raw.close()
    rejects_path = None
    if rejected:
        rejects_path = rejects or path.with_name(path.stem + ".rejects.csv")
        _write_rejects(frame, reasons, rejects_path)
    seconds = (datetime.now(UTC) - began).total_seconds()
    return ImportResult(
        path.name,
        batch_id,
        len(frame),
        len(frame) - rejected,
        rejected,
        rejects_path,
        use_bulk,
        seconds,
        router.uncovered_deadlines,
        tuple(sorted(router.uncovered_years)),
    )
