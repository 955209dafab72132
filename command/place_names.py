"""Places by name for H3 cells: what a planner reads instead of a cell id ("梅园新村街道 · 大行宫社区").

A cell is named after the units at its centre. One statement names a whole batch: each centre
finds its coverage unit through ``unit_piece`` (small subdivided outlines under a GiST index, the
locate path), whose ancestors are the community, street and district. A cell on the city's edge
whose centre lies just outside (over the Yangtze, or in Anhui) takes the nearest unit within its
own radius: cases inside the city made it count, so it is named after where they are. How much to say follows
the cell's size: a resolution-8 cell (~0.7 km²) sits in one community, a resolution-6 cell
(~36 km²) spans several streets, so coarse cells are named by district and street only.
"""

from __future__ import annotations

import h3
import psycopg

from command.queries.place_names import NAMES
from spatial.errors import InvalidInputError
from spatial.tiers import Tier

MAX_CELLS = 200
KM_PER_DEGREE = 95.0  # of longitude at Nanjing (32° N); a cell's radius in degrees is a little generous northward
# the tiers that name a cell, by its resolution (finest first)
SAID = ((8, (Tier.STREET, Tier.COMMUNITY)), (6, (Tier.DISTRICT, Tier.STREET)), (0, (Tier.DISTRICT,)))


def checked_cells(given: str) -> tuple[str, ...]:
    """``a,b,c`` as H3 cell ids (order kept, repeats dropped), refused when one is not a cell or there are too many."""
    cells = tuple(dict.fromkeys(c.strip() for c in given.split(",") if c.strip()))
    if not cells:
        raise InvalidInputError("cells: give at least one H3 cell id, e.g. 8830e1d8a3fffff")
    if len(cells) > MAX_CELLS:
        raise InvalidInputError(f"cells: at most {MAX_CELLS} per request, got {len(cells)}")
    if bad := [c for c in cells if not h3.is_valid_cell(c)]:
        raise InvalidInputError(f"cells: not H3 cell ids: {', '.join(bad[:5])}")
    return cells


def _place(resolution: int, names: dict[str, str]) -> str | None:
    tiers = next(said for finest, said in SAID if resolution >= finest)
    return " · ".join(names[t] for t in tiers if t in names) or names.get(Tier.DISTRICT)


async def place_names(conn: psycopg.AsyncConnection, cells: tuple[str, ...]) -> dict[str, dict[str, str | None]]:
    """Each cell's district, street, community and place to show; a cell far from every unit is left out."""
    centres = [h3.cell_to_latlng(c) for c in cells]
    reach = [h3.average_hexagon_edge_length(h3.get_resolution(c), unit="km") / KM_PER_DEGREE for c in cells]
    rows = await (
        await conn.execute(NAMES, (list(cells), [c[1] for c in centres], [c[0] for c in centres], reach))
    ).fetchall()
    chains: dict[str, dict[str, str]] = {}
    for cell, tier, name in rows:
        chains.setdefault(cell, {})[tier] = name
    return {cell: {**names, "place": _place(h3.get_resolution(cell), names)} for cell, names in chains.items()}
