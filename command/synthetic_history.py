"""A city's synthetic case history: cases through the historic import, then their whole loop.

The demo (``cityops demo``) and the workflow benchmark both need a past: a year of cases whose
transitions are complete and consistent, so that evaluation, reports, hot spots and recurrences
have something true to say on first start. The cases are written as the file a 12345 system
exports and go through ``command.historic_import`` (validation, locate, routing, deadlines — the
same code as ``cityops load events.csv``); their lifecycles are then generated on whole columns
(accept → file → dispatch → acknowledge → start → feedback → close, with voids, returns,
extensions, rework and late handling), stopped at *now* (so recent cases are still open at
every stage), hash-chained in Python with the database's own formula (``cityops_transition_hash``)
and COPYed with the chain trigger paused. Each case row and its ``case_clock`` are then set to
exactly where its last transition leaves it — ``cityops audit verify`` stays clean.

The rhythm is a city's: 12345 hotline calls are the majority, then grid workers' patrols, the
citizen app, sensors and other departments; a working-hours peak and a night trough, fewer
reports at weekends, drainage and flooding in the plum-rain season, barbecue smoke and noise on
summer nights; and a few places where the same problem keeps coming back.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, text

from command.historic_import import ImportResult, Settle, import_events
from command.working_time import LimitKind, TimeLimit, WorkingCalendar
from spatial.db import libpq_url
from spatial.settings import StoreSettings
from spatial.sources import ReportSource

Progress = Callable[[str, float], None]
MINUTE = np.timedelta64(60_000_000, "us")
NAT = np.datetime64("NaT", "us")
CHUNK = 100_000
# reporting channels and their shares: the 12345 hotline takes most of a Chinese city's cases
SOURCE_SHARES = {
    ReportSource.HOTLINE: 0.56,
    ReportSource.GRID_WORKER: 0.24,
    ReportSource.CITIZEN_APP: 0.12,
    ReportSource.SENSOR: 0.03,
    ReportSource.DEPARTMENT: 0.05,
}
# reports by Beijing hour: a night trough, a morning and an afternoon peak in working hours
HOURS = np.array(
    [
        0.6,
        0.4,
        0.3,
        0.3,
        0.4,
        0.8,
        1.8,
        3.5,
        6.0,
        7.5,
        7.8,
        7.0,
        5.0,
        5.5,
        7.0,
        7.4,
        7.0,
        6.0,
        4.2,
        3.6,
        3.2,
        2.6,
        1.8,
        1.0,
    ]
)
# the year's volume (January … December): the Spring Festival lull, a busy rainy summer
VOLUME = np.array([0.85, 0.75, 0.95, 1.0, 1.05, 1.15, 1.25, 1.2, 1.05, 1.0, 0.95, 0.85])
WEEKDAYS = np.array([1.0, 1.0, 1.0, 1.0, 0.97, 0.72, 0.66])  # Monday … Sunday
# month profiles (January … December): rain and drainage peak in the plum-rain season (梅雨, June–July)
RAIN = np.array([0.3, 0.35, 0.6, 0.8, 1.2, 2.6, 3.0, 2.2, 1.3, 0.6, 0.4, 0.3])
SUMMER = np.array([0.4, 0.4, 0.6, 0.9, 1.2, 1.5, 1.8, 1.8, 1.4, 1.0, 0.6, 0.4])
PROFILE = {
    "010103": RAIN,
    "020404": RAIN,
    "020405": RAIN,
    "020401": RAIN,
    "020602": RAIN,
    "020506": SUMMER,
    "020601": SUMMER,
    "020301": SUMMER,
    "020501": SUMMER,
    "020503": SUMMER,
}
# how common each category is (the rest count 1): litter, parking, vending and lamps dominate
COMMON = {
    "020102": 9,
    "020504": 8,
    "020503": 6,
    "020505": 6,
    "020201": 6,
    "010105": 5,
    "020106": 5,
    "020104": 5,
    "010302": 4,
    "020502": 4,
    "020601": 4,
    "020501": 3,
    "020105": 3,
    "010401": 3,
    "010103": 3,
    "020404": 3,
    "020103": 3,
    "020506": 2,
    "010301": 2,
    "010101": 2,
    "010102": 2,
    "020301": 2,
    "020403": 0.3,
    "020401": 0.4,
    "020402": 0.6,
    "010501": 0.3,
}
CENTRAL = ("玄武区", "秦淮区", "建邺区", "鼓楼区")  # the old city: denser, more cases per grid
CENTRAL_WEIGHT = 3.0
# recurring places: (share of the demo street's grids in turn, category, cases over the year)
RECURRING = [("020102", 40), ("010103", 32), ("020504", 28), ("010105", 24), ("020506", 20), ("020404", 18)]
RECURRING_JITTER_DEG = 0.00004  # ~4 m: one spot
NOTES = {
    "void": "经核实为重复或无效诉求，不予受理",
    "return": "非本部门职责范围，请改派",
    "request_extension": "需协调多部门处置，申请延期",
    "rework": "现场核查未整改到位，退回重办",
}
# the loop as data: (slot, action, from, to, acting role); a slot is one move a case may make
SLOTS = [
    ("report", "report", "", "reported", None),
    ("void", "void", "reported", "void", "dispatcher"),
    ("accept", "accept", "reported", "accepted", "dispatcher"),
    ("file", "file", "accepted", "filed", "dispatcher"),
    ("dispatch", "dispatch", "filed", "dispatched", "dispatcher"),
    ("return", "return", "dispatched", "returned", "department_handler"),
    ("redispatch", "dispatch", "returned", "dispatched", "dispatcher"),
    ("acknowledge", "acknowledge", "dispatched", "acknowledged", "department_handler"),
    ("start", "start", "acknowledged", "handling", "department_handler"),
    ("request_extension", "request_extension", "handling", "extension_requested", "department_handler"),
    ("approve_extension", "approve_extension", "extension_requested", "handling", "dispatcher"),
    ("feedback", "feedback", "handling", "checking", "department_handler"),
    ("rework", "rework", "checking", "rework", "checker"),
    ("restart", "start", "rework", "handling", "department_handler"),
    ("refeedback", "feedback", "handling", "checking", "department_handler"),
    ("close", "close", "checking", "closed", "checker"),
]
SHARES = {"void": 0.04, "return": 0.06, "extension": 0.05, "rework": 0.08, "late": 0.12}
COPY_COLUMNS = (
    "case_id",
    "seq",
    "action",
    "from_state",
    "to_state",
    "actor",
    "roles",
    "unit_id",
    "at",
    "note",
    "evidence",
    "prev_hash",
    "hash",
    "role",
    "department",
    "grid_id",
    "due",
    "deadline",
    "since",
    "detail",
)
COPY_TRANSITIONS = (
    f"COPY case_transition ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT csv, FORCE_NOT_NULL (from_state, note))"
)
BULK_ROWS = 200_000  # transitions: from here (and at least as many as stored) foreign keys are checked once
FOREIGN_KEYS = (
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'case_transition'::regclass "
    "AND contype = 'f'"
)
CASES_SQL = """
SELECT e.id, e.filed_at, e.deadline, e.grid_id, e.responsible_unit_id, e.source::text, e.departments, c.time_limit,
       c.limit_kind
FROM case_file e JOIN category c ON c.code = e.category_code WHERE e.import_batch_id = %s ORDER BY e.id
"""
SETTLE = """
CREATE TEMP TABLE settled (id bigint, state text, version int, stage_at timestamptz, filed_at timestamptz,
                           deadline timestamptz, dispatched_at timestamptz, handling_department text,
                           closed_at timestamptz, due_at timestamptz) ON COMMIT DROP
"""
SETTLE_CASES = """
UPDATE case_file e SET state = s.state, version = s.version, stage_at = s.stage_at, updated_at = s.stage_at,
       filed_at = s.filed_at, deadline = s.deadline, dispatched_at = s.dispatched_at,
       handling_department = s.handling_department, closed_at = s.closed_at
FROM settled s WHERE e.id = s.id
"""
SETTLE_CLOCKS = """
INSERT INTO case_clock (case_id, due_at, escalate_at) SELECT id, due_at, due_at FROM settled
ON CONFLICT (case_id) DO UPDATE SET due_at = excluded.due_at, escalate_at = excluded.escalate_at
"""
GRIDS_SQL = """
SELECT g.code, ST_AsBinary(g.geom), d.name, s.code FROM unit g
JOIN unit d ON d.id = g.ancestors[2] LEFT JOIN unit s ON s.id = ANY(g.ancestors) AND s.tier = 'street'
WHERE g.tier = 'grid' ORDER BY g.code
"""


@dataclass(frozen=True)
class History:
    """What one load did."""

    cases: int
    transitions: int
    already: int
    open_cases: int
    batch: ImportResult | None


# ---- the cases: the file a 12345 system would export ---------------------------------------------
def _report_times(rng: np.random.Generator, count: int, end: datetime, days: int) -> pd.DatetimeIndex:
    """Beijing report times over ``days`` up to ``end``, with the year's, the week's and the day's rhythm.

    A time drawn on the last day after ``end`` moves a day back: nothing is reported in the future.
    """
    local_end = pd.Timestamp(end).tz_convert("Asia/Shanghai").floor("D")
    day_list = pd.date_range(end=local_end, periods=days, freq="D")
    weights = WEEKDAYS[day_list.day_of_week] * VOLUME[day_list.month - 1]
    day = rng.choice(days, count, p=weights / weights.sum())
    hour = rng.choice(24, count, p=HOURS / HOURS.sum())
    seconds = hour * 3600 + rng.integers(0, 3600, count)
    times = day_list[day] + pd.to_timedelta(seconds, "s")
    return times[times < pd.Timestamp(end)].append(times[times >= pd.Timestamp(end)] - pd.Timedelta(days=1))


def _categories(rng: np.random.Generator, codes: list[str], months: np.ndarray) -> np.ndarray:
    """A category per case, weighted by how common it is and by its month profile."""
    out = np.empty(len(months), dtype=object)
    base = np.array([COMMON.get(code, 1.0) for code in codes])
    for month in range(1, 13):
        rows = months == month
        weights = base * np.array([PROFILE[code][month - 1] if code in PROFILE else 1.0 for code in codes])
        out[rows] = rng.choice(codes, int(rows.sum()), p=weights / weights.sum())
    return out


def _points(rng: np.random.Generator, areas: list[BaseGeometry], picks: np.ndarray) -> np.ndarray:
    """A uniformly random point of each picked grid (rejection sampling in its box, grid by grid)."""
    xy = np.empty((len(picks), 2))
    for grid in np.unique(picks):
        rows = np.flatnonzero(picks == grid)
        area = areas[grid]
        west, south, east, north = area.bounds
        found = np.empty((0, 2))
        while len(found) < len(rows):
            x, y = rng.uniform(west, east, 4 * len(rows) + 8), rng.uniform(south, north, 4 * len(rows) + 8)
            found = np.vstack([found, np.column_stack([x, y])[shapely.contains_xy(area, x, y)]])
        xy[rows] = found[: len(rows)]
    return xy


def synthetic_cases(
    engine: Engine, count: int, *, prefix: str, end: datetime, seed: int, days: int = 365, hot_unit: str | None = None
) -> pd.DataFrame:
    """``count`` cases as import rows; with ``hot_unit``, its grids hold the recurring places."""
    rng = np.random.default_rng(seed)
    with engine.connect() as conn:
        grids = conn.execute(text(GRIDS_SQL)).all()
        codes = [row[0] for row in conn.execute(text("SELECT code FROM category ORDER BY code"))]
    areas = [shapely.from_wkb(bytes(row[1])) for row in grids]
    weights = np.where(np.isin([row[2] for row in grids], CENTRAL), CENTRAL_WEIGHT, 1.0)
    hot_grids = [i for i, row in enumerate(grids) if row[3] == hot_unit]
    planted = (
        [(hot_grids[i * 7 % len(hot_grids)], code, n) for i, (code, n) in enumerate(RECURRING)] if hot_grids else []
    )
    planted_count = min(count, sum(n for _, _, n in planted))
    plain = count - planted_count
    times = _report_times(rng, count, end, days)
    picks = rng.choice(len(grids), plain, p=weights / weights.sum())
    xy = _points(rng, areas, picks)
    category = _categories(rng, codes, np.asarray(times.month[:plain]))
    if planted_count:
        spots = _points(rng, areas, np.array([grid for grid, _, _ in planted]))
        which = np.repeat(np.arange(len(planted)), [n for _, _, n in planted])[:planted_count]
        xy = np.vstack([xy, spots[which] + rng.normal(0, RECURRING_JITTER_DEG / 2, (planted_count, 2))])
        category = np.concatenate([category, np.array([code for _, code, _ in planted], dtype=object)[which]])
    shares = np.array(list(SOURCE_SHARES.values()))
    sources = rng.choice([str(source) for source in SOURCE_SHARES], count, p=shares / shares.sum())
    return pd.DataFrame(
        {
            "id": [f"{prefix}-{i}" for i in range(count)],
            "lon": xy[:, 0].round(6),
            "lat": xy[:, 1].round(6),
            "category": category,
            "severity": rng.choice(["IV", "IV", "IV", "IV", "III"], count),
            "source": sources,
            "reported_at": times.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            "description": "",
            "state": "reported",
        }
    )


# ---- the lifecycles ------------------------------------------------------------------------------
def _uniform_minutes(rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
    return (rng.uniform(low, high, n) * 60_000_000).astype("int64").astype("timedelta64[us]")


def _share_of(span: np.ndarray, fraction: np.ndarray, at_least: int = 10) -> np.ndarray:
    """``fraction`` of each span, at least ``at_least`` minutes."""
    micros = span.astype("int64").clip(at_least * 60_000_000)
    return (micros * fraction).astype("int64").astype("timedelta64[us]")


@dataclass(frozen=True)
class Clock:
    """The working calendar and each open state's stage limit (``stage_limit``; ``None``: the handling deadline)."""

    calendar: WorkingCalendar
    stages: dict[str, TimeLimit | None]

    def deadlines(self, starts: np.ndarray, values: np.ndarray, kinds: np.ndarray) -> np.ndarray:
        """A limit from each start, the limits grouped so the calendar works on whole columns."""
        out = np.full(len(starts), NAT)
        for value, kind in {(float(v), str(k)) for v, k in zip(values, kinds, strict=True)}:
            rows = (values == value) & (kinds == kind)
            out[rows] = self.calendar.deadlines(starts[rows], TimeLimit(value, LimitKind(kind)))
        return out

    def due(self, state: str, at: np.ndarray, deadline: np.ndarray) -> np.ndarray:
        """The due time a move into ``state`` at ``at`` sets (none for closed and void)."""
        if state not in self.stages:
            return np.full(len(at), NAT)
        limit = self.stages[state]
        return deadline if limit is None else self.calendar.deadlines(at, limit)


def lifecycles(cases: pd.DataFrame, clock: Clock, now: datetime, seed: int, *, actor: str) -> pd.DataFrame:
    """Every move of every case up to ``now``, in slot order; what lies after ``now`` has not happened yet."""
    rng = np.random.default_rng(seed)
    n = len(cases)
    report = cases["filed_at"].to_numpy("datetime64[us]")
    first_deadline = cases["deadline"].to_numpy("datetime64[us]")
    values, kinds = cases["time_limit"].to_numpy(float), cases["limit_kind"].to_numpy(str)
    draw = {key: rng.random(n) < share for key, share in SHARES.items()}
    voided, returned, extended, reworked = (
        draw["void"],
        draw["return"] & ~draw["void"],
        draw["extension"],
        draw["rework"],
    )
    minutes = lambda low, high: _uniform_minutes(rng, n, low, high)  # noqa: E731
    at = {"report": report, "void": report + minutes(5, 55), "accept": report + minutes(1, 55)}
    at["file"] = at["accept"] + minutes(2, 90)
    handling = clock.deadlines(at["file"], values, kinds)
    span = handling - at["file"]  # an urgent case's steps are quick: each at most a share of its limit
    brisk = lambda low, high, share: np.minimum(minutes(low, high), _share_of(span, np.full(n, share), 5))  # noqa: E731
    at["dispatch"] = at["file"] + brisk(1, 50, 0.08)
    at["return"] = at["dispatch"] + minutes(10, 120)
    at["redispatch"] = at["return"] + minutes(5, 60)
    handed = np.where(returned, at["redispatch"], at["dispatch"])
    at["acknowledge"] = handed + brisk(5, 110, 0.12)
    at["start"] = at["acknowledge"] + brisk(1, 60, 0.05)
    at["request_extension"] = at["start"] + _share_of(handling - at["start"], rng.uniform(0.3, 0.7, n))
    at["approve_extension"] = at["request_extension"] + minutes(30, 240)
    extend_by = np.maximum(np.ceil(values), 1).astype(int)
    later = np.maximum(handling, at["approve_extension"])
    extended_deadline = np.where(extended, clock.deadlines(later, extend_by.astype(float), kinds), handling)
    began = np.where(extended, at["approve_extension"], at["start"])
    late = rng.random(n) < SHARES["late"]
    portion = np.where(late, rng.uniform(1.05, 1.8, n), rng.uniform(0.15, 0.95, n))
    at["feedback"] = began + _share_of(extended_deadline - began, portion)
    at["rework"] = at["feedback"] + minutes(30, 300)
    at["restart"] = at["rework"] + minutes(5, 60)
    at["refeedback"] = at["restart"] + minutes(60, 1440)
    last = np.where(reworked, at["refeedback"], at["feedback"])
    at["close"] = last + brisk(20, 200, 0.1)
    alive = ~voided
    detail = ('{"extend_by": ' + pd.Series(extend_by).astype(str) + "}").to_numpy(dtype=object)
    taken = {
        "report": np.ones(n, bool),
        "void": voided,
        "return": returned & alive,
        "redispatch": returned & alive,
        "request_extension": extended & alive,
        "approve_extension": extended & alive,
        "rework": reworked & alive,
        "restart": reworked & alive,
        "refeedback": reworked & alive,
    }
    deadline_of = {
        "report": first_deadline,
        "void": first_deadline,
        "accept": first_deadline,
        **dict.fromkeys(
            ("approve_extension", "feedback", "rework", "restart", "refeedback", "close"), extended_deadline
        ),
    }
    since_of = {"feedback": handed, "refeedback": handed, "close": at["file"]}
    horizon = np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "us")
    departments = np.array(
        [d[int(rng.integers(len(d)))] if len(d) else None for d in cases["departments"]], dtype=object
    )
    frames, previous, due = [], report, np.full(n, NAT)
    for order, (slot, action, from_state, to_state, role) in enumerate(SLOTS):
        deadline = deadline_of.get(slot, handling)
        mask = taken.get(slot, alive) & (at[slot] <= horizon)
        frames.append(
            pd.DataFrame(
                {
                    "case_id": cases["id"].to_numpy()[mask],
                    "order": order,
                    "action": action,
                    "from_state": from_state,
                    "to_state": to_state,
                    "role": role,
                    "at": at[slot][mask],
                    "due": due[mask],
                    "deadline": deadline[mask],
                    "since": since_of.get(slot, previous)[mask],
                    "note": NOTES.get(slot, ""),
                    "detail": detail[mask] if slot == "request_extension" else None,
                    "department": departments[mask] if order > 3 else None,
                    "grid_id": cases["grid_id"].to_numpy()[mask],
                    "unit_id": cases["unit_id"].to_numpy()[mask],
                    "source": cases["source"].to_numpy()[mask],
                }
            )
        )
        previous = np.where(mask, at[slot], previous)
        due = np.where(mask, clock.due(to_state, at[slot], deadline), due)
    rows = pd.concat(frames, ignore_index=True).sort_values(["case_id", "order"], kind="stable")
    rows["seq"] = rows.groupby("case_id").cumcount() + 1
    rows["actor"] = np.where(rows["role"].isna(), "intake:" + rows["source"], actor + "-" + rows["role"].fillna(""))
    return rows.drop(columns=["order", "source"]).reset_index(drop=True)


# ---- the chain -----------------------------------------------------------------------------------
def _stamps(values: pd.Series) -> pa.Array:
    """Times as the hash formats them (to_char … 'YYYY-MM-DD"T"HH24:MI:SS.US' in UTC); null for none.

    Built from integer parts column-wise: a year has a few hundred distinct days, formatted once.
    """
    times = values.to_numpy("datetime64[us]")
    missing = np.isnat(times)
    times = np.where(missing, np.datetime64(0, "us"), times)
    days = times.astype("datetime64[D]")
    names, index = np.unique(days, return_inverse=True)
    micros = (times - days).astype("int64")

    def padded(numbers: np.ndarray, width: int) -> pa.Array:
        return pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width, "0")

    text_ = pc.binary_join_element_wise(
        pa.array(np.datetime_as_string(names, unit="D")).take(pa.array(index.ravel())),
        "T",
        padded(micros // 3_600_000_000, 2),
        ":",
        padded(micros // 60_000_000 % 60, 2),
        ":",
        padded(micros // 1_000_000 % 60, 2),
        ".",
        padded(micros % 1_000_000, 6),
        "",
    )
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text_)


def _texts(values: pd.Series | np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=object), pa.string()).fill_null("")


def chain(rows: pd.DataFrame, progress: Progress = lambda *_: None) -> pd.DataFrame:
    """prev_hash and hash of every row (in case and seq order), by ``cityops_transition_hash``'s formula.

    Each row's text after its prev_hash is joined column-wise (Arrow); only the hashing is a loop.
    """
    role = _texts(rows["role"])
    parts = [
        rows["case_id"].astype(str),
        rows["seq"].astype(str),
        rows["action"],
        rows["from_state"],
        rows["to_state"],
        rows["actor"],
        role,
        rows["unit_id"].astype(str),
        _stamps(rows["at"]),
        "",
        rows["note"],
        "",
        "v2",
        role,
        rows["department"],
        rows["grid_id"].astype(str),
        _stamps(rows["due"]),
        _stamps(rows["deadline"]),
        _stamps(rows["since"]),
        rows["detail"],
    ]
    columns = [p if isinstance(p, (pa.Array, str)) else _texts(p) for p in parts]
    rest = pc.binary_join_element_wise("", *columns, "|", null_handling="replace", null_replacement="").to_pylist()
    first = (rows["seq"] == 1).to_numpy()
    prev, hashes = np.empty(len(rows), dtype=object), np.empty(len(rows), dtype=object)
    last, zero, step = "", "0" * 64, max(len(rows) // 50, 1)
    for i, tail in enumerate(rest):
        before = zero if first[i] else last
        last = hashlib.sha256((before + tail).encode()).hexdigest()
        prev[i], hashes[i] = before, last
        if i % step == 0:
            progress("chaining transitions", i / len(rows))
    return rows.assign(prev_hash=prev, hash=hashes)


def _utc_text(values: pd.Series) -> pa.Array:
    return pc.binary_join_element_wise(_stamps(values), "+00", "")


def copy_transitions(conn: psycopg.Connection, rows: pd.DataFrame, progress: Progress = lambda *_: None) -> None:
    """COPY in time order (the BRIN index on ``at`` stays tight), the chain trigger paused (``conn``'s transaction)."""
    rows = rows.sort_values("at", kind="stable")
    role = pa.array(rows["role"].to_numpy(dtype=object), pa.string())
    table = pa.table(
        {
            "case_id": pa.array(rows["case_id"].to_numpy()),
            "seq": pa.array(rows["seq"].to_numpy()),
            "action": _texts(rows["action"]),
            "from_state": _texts(rows["from_state"]),
            "to_state": _texts(rows["to_state"]),
            "actor": _texts(rows["actor"]),
            "roles": pc.binary_join_element_wise("{", role.fill_null(""), "}", ""),
            "unit_id": pa.array(rows["unit_id"].to_numpy()),
            "at": _utc_text(rows["at"]),
            "note": _texts(rows["note"]),
            "evidence": pa.array(["{}"] * len(rows)),
            "prev_hash": _texts(rows["prev_hash"]),
            "hash": _texts(rows["hash"]),
            "role": role,
            "department": pa.array(rows["department"].to_numpy(dtype=object), pa.string()),
            "grid_id": pa.array(rows["grid_id"].to_numpy()),
            "due": _utc_text(rows["due"]),
            "deadline": _utc_text(rows["deadline"]),
            "since": _utc_text(rows["since"]),
            "detail": pa.array(rows["detail"].to_numpy(dtype=object), pa.string()),
        }
    )
    stored = conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'case_transition'::regclass").fetchone()
    keys = conn.execute(FOREIGN_KEYS).fetchall() if len(rows) >= max(BULK_ROWS, stored[0] if stored else 0) else []
    for name, _ in keys:  # bulk: one set-based check when re-added beats a lookup per row and key
        conn.execute(f'ALTER TABLE case_transition DROP CONSTRAINT "{name}"')
    conn.execute("ALTER TABLE case_transition DISABLE TRIGGER case_transition_chain")
    with conn.cursor().copy(COPY_TRANSITIONS) as copy:
        for start in range(0, len(table), CHUNK):
            buffer = io.BytesIO()
            pacsv.write_csv(table.slice(start, CHUNK), buffer, pacsv.WriteOptions(include_header=False))
            copy.write(buffer.getvalue())
            progress("writing transitions", min(1.0, (start + CHUNK) / len(table)))
    conn.execute("ALTER TABLE case_transition ENABLE TRIGGER case_transition_chain")
    for name, definition in keys:
        progress("checking transition keys", 0.0)
        conn.execute(f'ALTER TABLE case_transition ADD CONSTRAINT "{name}" {definition}')


def settled(rows: pd.DataFrame, clock: Clock) -> pd.DataFrame:
    """Each case as its transitions leave it: state, version, stage and case times, the clock's due time."""
    by_case = rows.groupby("case_id", sort=True)
    last = by_case.tail(1).set_index("case_id").sort_index()
    moment = lambda action: rows[rows["action"] == action].groupby("case_id")["at"].max()  # noqa: E731
    report = by_case["since"].first()
    out = pd.DataFrame(
        {
            "state": last["to_state"],
            "version": last["seq"] - 1,
            "stage_at": last["at"],
            "filed_at": moment("file").reindex(last.index).fillna(report),
            "deadline": last["deadline"],
            "dispatched_at": moment("dispatch").reindex(last.index),
            "handling_department": last["department"],
            "closed_at": last["at"].where(last["to_state"].isin(["closed", "void"])),
        }
    )
    due = np.full(len(out), NAT)
    for state, group in out.groupby("state"):
        rows_ = (out["state"] == state).to_numpy()
        due[rows_] = clock.due(
            str(state), group["stage_at"].to_numpy("datetime64[us]"), group["deadline"].to_numpy("datetime64[us]")
        )
    return out.assign(due_at=due).reset_index()


def _settle(conn: psycopg.Connection, cases: pd.DataFrame) -> None:
    conn.execute(SETTLE)
    columns = [
        "case_id",
        "state",
        "version",
        "stage_at",
        "filed_at",
        "deadline",
        "dispatched_at",
        "handling_department",
        "closed_at",
        "due_at",
    ]
    times = ("stage_at", "filed_at", "deadline", "dispatched_at", "closed_at", "due_at")
    table = pa.table(
        {c: _utc_text(cases[c]) if c in times else pa.array(cases[c].to_numpy(dtype=object)) for c in columns}
    )
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
    with conn.cursor().copy("COPY settled FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())
    conn.execute(SETTLE_CASES)
    conn.execute(SETTLE_CLOCKS)


def load_clock(conn: psycopg.Connection, calendar: WorkingCalendar) -> Clock:
    """The stage limits as the database keeps them."""
    limits = conn.execute("SELECT state, time_limit, limit_kind FROM stage_limit").fetchall()
    return Clock(
        calendar,
        {state: None if value is None else TimeLimit(float(value), LimitKind(kind)) for state, value, kind in limits},
    )


def history_count(engine: Engine, prefix: str) -> int:
    """Cases of a history already loaded under ``prefix``."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM case_file WHERE external_id LIKE :p"), {"p": f"{prefix}-%"}
            ).scalar_one()
        )


def _batch_cases(conn: psycopg.Connection, batch_id: int) -> pd.DataFrame:
    rows = conn.execute(CASES_SQL, (batch_id,)).fetchall()
    columns = ["id", "filed_at", "deadline", "grid_id", "unit_id", "source", "departments", "time_limit", "limit_kind"]
    return pd.DataFrame(rows, columns=columns)


def lifecycle_writer(now: datetime, seed: int, actor: str, progress: Progress) -> Settle:
    """The import's settle step: each imported case's loop, its chain, and the case and clock where it ends."""

    def settle(conn: psycopg.Connection, batch_id: int) -> None:
        cases = _batch_cases(conn, batch_id)
        if cases.empty:
            return
        clock = load_clock(conn, WorkingCalendar.china())
        progress("generating lifecycles", 0.0)
        rows = chain(lifecycles(cases, clock, now, seed, actor=actor), progress)
        copy_transitions(conn, rows, progress)
        progress("settling cases and clocks", 0.0)
        _settle(conn, settled(rows, clock))

    return settle


def load_history(
    settings: StoreSettings,
    engine: Engine,
    count: int,
    *,
    prefix: str,
    seed: int,
    now: datetime | None = None,
    hot_unit: str | None = None,
    actor: str = "history",
    progress: Progress = lambda *_: None,
) -> History:
    """``count`` cases of the year up to ``now`` under ``prefix``, imported and carried through their loop.

    One transaction (the import's): the cases land with their transitions or not at all.
    Idempotent: the cases carry ``prefix``-numbered source ids, so a second run imports nothing.
    """
    now = now or datetime.now(UTC)
    already = history_count(engine, prefix)
    if already >= count:
        return History(0, 0, already, _open_cases(engine, prefix), None)
    frame = synthetic_cases(engine, count, prefix=prefix, end=now, seed=seed, hot_unit=hot_unit)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"{prefix}.csv"
        frame.to_csv(path, index=False)
        batch = import_events(
            engine, path, actor=actor, progress=progress, settle=lifecycle_writer(now, seed + 1, actor, progress)
        )
    with psycopg.connect(libpq_url(settings), autocommit=True) as conn:
        transitions = conn.execute(
            "SELECT count(*) FROM case_transition t JOIN case_file e ON e.id = t.case_id WHERE e.import_batch_id = %s",
            (batch.batch_id,),
        ).fetchone()
    return History(batch.loaded, int(transitions[0]) if transitions else 0, already, _open_cases(engine, prefix), batch)


def _open_cases(engine: Engine, prefix: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM case_file WHERE external_id LIKE :p AND state NOT IN ('closed', 'void')"),
                {"p": f"{prefix}-%"},
            ).scalar_one()
        )
