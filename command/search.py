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
number of candidates per finder (``queries/search.py``), never every match. Addresses rank last, so
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

from command.queries.search import BY_CASE_NUMBER, BY_CODE, BY_INITIALS, BY_NAMES, FOUND
from spatial.errors import InvalidInputError

MAX_QUERY = 64
MAX_LIMIT = 50
CASE_NUMBER = re.compile(r"\d{1,18}")
CODE = re.compile(r"\d{6,32}")
INITIALS = re.compile(r"[a-z][a-z0-9]*")


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
            raise InvalidInputError(
                "q is empty: type a case number, a place name or its pinyin initials, "
                "a building code or words of an address"
            )
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
        "kind": row["kind"],
        "id": row["id"],
        "bbox": bbox,
        "geometry": row["geometry"],
    }
    if row["kind"] == "case":
        found |= {
            "point": [round(float(row["lon"]), 6), round(float(row["lat"]), 6)],
            "state": row["state"],
            "category": row["category"],
            "category_name": row["category_name"],
            "address": row["address"],
            "label": row["address"] or row["category_name"],
        }
    else:
        found |= {"name": row["name"], "tier": row["tier"], "label": row["place"]}
    return found


async def search(conn: psycopg.AsyncConnection, query: Query) -> list[dict[str, object]]:
    """The best hits for the query, best first; an empty list when nothing matches."""
    finders, params = query.finders()
    async with conn.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(FOUND.format(finders=finders), params, prepare=True)
        return [hit(row) for row in await cursor.fetchall()]
