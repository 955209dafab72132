"""Find anything: one box for case numbers, unit names (汉字 or pinyin initials), building codes and addresses.

What the box holds decides where to look: digits are a case number or a unit/building code,
letters may be pinyin initials (``xwq`` → 玄武区), and any text is looked for in unit names and
case addresses. Every finder is an indexed query (migration 0022 explains the indexes) that
yields candidates with a rank; one statement unions them, keeps the best ``limit`` and only then
reads what the map needs of those few (outline, box, point): the outline of a district or the city
is the simplified one migration 0022 keeps, not thousands of vertices simplified per search.

Ranking: an exact case number or code first, then an exact name or initials, then names and codes
that start with the query, then names that contain it, then cases whose address contains it.
Within a rank, the larger unit first (a district before its streets), then the shorter name;
cases newest first. A query that matches a whole city's worth of rows (``南京``) reads a bounded
number of candidates per finder (``CANDIDATES``), never every match. Addresses rank last, so
they are only looked for when the other finders leave room in the list: typing a district's
name (江宁) finds enough units, and its cases' addresses — a quarter of the city's — are not read.

Cases are read through the caller's scope: row-level security hides every case outside their
jurisdiction, so such a case is never found. Units and buildings are public geography.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from spatial.errors import InvalidInputError

MAX_QUERY = 64
MAX_LIMIT = 50
CANDIDATES = 100  # per finder: enough to rank the best of a broad query, few enough to stay fast
AREAS = 1_500  # city … community units: Nanjing has 1,474, all ranked
CASE_NUMBER = re.compile(r"\d{1,18}")
CODE = re.compile(r"\d{6,32}")
INITIALS = re.compile(r"[a-z][a-z0-9]*")

# each finder yields (kind, ref, rank, tier, size, tie): ref the case or unit id; ordered by the last four
BY_CASE_NUMBER = """
SELECT 'case', e.id, 0, 9, 0, -e.id
FROM event e WHERE e.id = %(number)s
"""
BY_CODE = f"""
SELECT CASE WHEN u.tier = 'building' THEN 'building' ELSE 'unit' END, u.id,
       CASE WHEN u.code = %(code)s THEN 0 ELSE 2 END, array_position(enum_range(NULL::tier), u.tier),
       char_length(u.code), u.id
FROM (SELECT id, code, tier FROM unit WHERE code >= %(code)s AND code < %(code_end)s  -- starts with the digits
      ORDER BY code LIMIT {CANDIDATES}) AS u
"""
BY_INITIALS = f"""
SELECT 'unit', u.id,
       CASE WHEN (' ' || u.initials || ' ') LIKE %(reading)s THEN 1 ELSE 2 END,
       array_position(enum_range(NULL::tier), u.tier), char_length(u.name), u.id
FROM (SELECT id, name, tier, initials FROM unit WHERE initials LIKE %(initials)s OR initials LIKE %(later_initials)s
      LIMIT {CANDIDATES}) AS u
"""
# names by tier group, each from its own index: the 1,500 areas (city … community) all ranked, the
# 10,000 grids and 25,000 buildings a bounded number each, so a word in every grid's name (社区)
# still lists the communities first
BY_NAME = """
SELECT CASE WHEN u.tier = 'building' THEN 'building' ELSE 'unit' END, u.id,
       CASE WHEN u.squeezed = cityops_squeeze(%(q)s) THEN 1 WHEN u.squeezed LIKE cityops_squeeze(%(starts)s) THEN 2
            ELSE 3 END,
       array_position(enum_range(NULL::tier), u.tier), char_length(u.name), u.id
FROM cityops_units_by_name(%(q)s, %(contains)s, '{group}', {candidates}) AS u
"""
NAME_GROUPS = (("areas", AREAS), ("grids", CANDIDATES), ("buildings", CANDIDATES))
BY_NAMES = tuple(BY_NAME.format(group=group, candidates=count) for group, count in NAME_GROUPS)
# cases by address, ranked after everything else: read only while the other finders have found fewer
# than ``limit`` (a one-time filter: the function is not called at all otherwise)
BY_ADDRESS = f"""
SELECT 'case', e.id, 4, 9, strpos(e.squeezed, cityops_squeeze(%(q)s)), -e.id
FROM cityops_cases_by_address(%(q)s, %(contains)s, {CANDIDATES}) AS e
WHERE (SELECT count(DISTINCT (kind, ref)) FROM ranked) < %(limit)s
"""
# the best hits, then what the map and the list need of them (names of a unit's chain, not of a
# management unit above an administrative one: 「南京市 浦口区 泰山街道」)
FOUND = f"""
WITH ranked (kind, ref, rank, tier, size, tie) AS MATERIALIZED ({{finders}}),
hits AS (SELECT * FROM ranked UNION ALL {BY_ADDRESS.strip()}),
top AS MATERIALIZED (
    SELECT kind, ref, min(rank) AS rank, min(tier) AS tier, min(size) AS size, min(tie) AS tie
    FROM hits GROUP BY kind, ref ORDER BY 3, 4, 5, 6 LIMIT %(limit)s
)
SELECT top.kind, coalesce(u.code, e.id::text) AS id, u.name, u.tier::text AS tier,
       CASE WHEN u.id IS NOT NULL THEN (
           SELECT string_agg(a->>'name', ' ' ORDER BY n) FROM json_array_elements(u.chain) WITH ORDINALITY AS c(a, n)
           WHERE a->>'kind' = 'administrative' OR a->>'code' = u.code) END AS place,
       e.state, e.category_code AS category, c.name AS category_name, e.address,
       ST_AsGeoJSON(coalesce(u.outline, u.geom, e.geom), 6)::json AS geometry,
       ST_XMin(coalesce(u.geom, e.geom)) AS west, ST_YMin(coalesce(u.geom, e.geom)) AS south,
       ST_XMax(coalesce(u.geom, e.geom)) AS east, ST_YMax(coalesce(u.geom, e.geom)) AS north,
       ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat
FROM top
LEFT JOIN unit u ON top.kind <> 'case' AND u.id = top.ref
LEFT JOIN event e ON top.kind = 'case' AND e.id = top.ref
LEFT JOIN category c ON c.code = e.category_code
ORDER BY top.rank, top.tier, top.size, top.tie
"""


@dataclass(frozen=True)
class Query:
    """A search as asked: the text (trimmed) and how many hits at most."""

    text: str
    limit: int = 10

    @classmethod
    def of(cls, q: str | None, limit: int = 10) -> Query:
        """Check what the box sent; the message says what to change."""
        text = " ".join((q or "").split())
        if not text:
            raise InvalidInputError("q is empty: type a case number, a place name or its pinyin initials, "
                                    "a building code or words of an address")  # fmt: skip
        if len(text) > MAX_QUERY:
            raise InvalidInputError(f"q has {len(text)} characters; at most {MAX_QUERY}")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        return cls(text, limit)

    def finders(self) -> tuple[str, dict[str, object]]:
        """The finders this text calls for besides addresses (``FOUND`` adds those), and their parameters."""
        squeezed = "".join(self.text.split())
        like = _like_escaped(self.text)
        parts = list(BY_NAMES)
        params: dict[str, object] = {"q": self.text, "starts": f"{like}%", "contains": f"%{like}%", "limit": self.limit}
        if CASE_NUMBER.fullmatch(squeezed):
            parts.insert(0, BY_CASE_NUMBER)
            params["number"] = int(squeezed)
        if CODE.fullmatch(squeezed):
            parts.insert(0, BY_CODE)
            params |= {"code": squeezed, "code_end": f"{squeezed}:"}  # ":" sorts right after "9"
        initials = squeezed.lower()
        if INITIALS.fullmatch(initials):
            parts.insert(0, BY_INITIALS)
            params |= {"initials": f"{initials}%", "later_initials": f"% {initials}%", "reading": f"% {initials} %"}
        return "\nUNION ALL\n".join(part.strip() for part in parts), params


def _like_escaped(text: str) -> str:
    """``text`` taken literally inside a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def hit(row: dict[str, Any]) -> dict[str, object]:
    """A found case, unit or building as the box shows it and the map flies to it."""
    bbox = [round(float(row[k]), 6) for k in ("west", "south", "east", "north")]
    found: dict[str, object] = {
        "kind": row["kind"], "id": row["id"], "bbox": bbox, "geometry": row["geometry"],
    }  # fmt: skip
    if row["kind"] == "case":
        found |= {"point": [round(float(row["lon"]), 6), round(float(row["lat"]), 6)],
                  "state": row["state"], "category": row["category"], "category_name": row["category_name"],
                  "address": row["address"], "label": row["address"] or row["category_name"]}  # fmt: skip
    else:
        found |= {"name": row["name"], "tier": row["tier"], "label": row["place"]}
    return found


async def search(conn: psycopg.AsyncConnection, query: Query) -> list[dict[str, object]]:
    """The best hits for the query, best first; an empty list when nothing matches."""
    finders, params = query.finders()
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(FOUND.format(finders=finders), params, prepare=True)
        return [hit(row) for row in await cursor.fetchall()]
