"""Which open case a new report describes, if any: near first, then what the text says.

Candidates are the open cases of the same category whose point lies within the category's
duplicate radius and whose window has not passed, found through the H3 cells around the report
(an index probe) and confirmed by exact geodesic distance. The nearest wins — unless another
candidate is nearly as near (within ``TIE_FRACTION`` of the radius of the nearest), when the
case whose description reads most like the report's wins: two potholes 20 m apart on one road
are told apart by "井盖缺失" versus "路面塌陷", not by a metre of GPS noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

TIE_FRACTION = 0.25
COMPARED_CHARS = 500  # enough of a description to tell incidents apart; keeps the comparison cheap

# locks the category's areas around the point, then searches (migration 0006)
CANDIDATES_SQL = """
SELECT * FROM cityops_open_cases_near(
    %(areas)s, %(cells)s, %(category)s, %(lon)s, %(lat)s, %(window_hours)s, %(radius_m)s)
"""


@dataclass(frozen=True)
class Match:
    """The case a report joins, and how close it was in space and words."""

    case_id: int
    distance_m: float
    similarity: float


def similarity(a: str, b: str) -> float:
    """How alike two descriptions read, 0…1 (character-based, so it works for Chinese unsegmented)."""
    return SequenceMatcher(None, a[:COMPARED_CHARS], b[:COMPARED_CHARS], autojunk=False).ratio()


def best_match(candidates: list[tuple[int, float, str]], description: str, radius_m: float) -> Match | None:
    """The nearest candidate, with text similarity deciding among those about as near."""
    if not candidates:
        return None
    nearest = candidates[0][1]
    tied = [c for c in candidates if c[1] - nearest <= TIE_FRACTION * radius_m]
    scored = [Match(case_id, distance, similarity(description, text)) for case_id, distance, text in tied]
    return max(scored, key=lambda m: (m.similarity, -m.distance_m, -m.case_id))
