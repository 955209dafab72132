"""Search: one box for case numbers, unit names (汉字 or pinyin initials), building codes and addresses (issue 18).

Answers in the caller's scope (a case outside their jurisdiction is never found); no match is an
empty list — the box says 未找到 —, never an error. What and how: ``command.search``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.access import Access
from api.deps import scoped_connection
from api.geojson import FastJSONResponse
from command.search import MAX_LIMIT, MAX_QUERY, search
from command.search import Query as Search
from command.users import User

router = APIRouter(prefix="/api/v1", tags=["search"])
Reader = Annotated[User, Depends(Access("cases:read"))]


@router.get("/search", response_class=FastJSONResponse)
async def find(
    request: Request, user: Reader,
    q: Annotated[str, Query(description="a case number, a unit's name or pinyin initials (xwq → 玄武区), a building "
                                        f"code or words of an address; at most {MAX_QUERY} characters")] = "",
    limit: Annotated[int, Query(description=f"hits at most, 1…{MAX_LIMIT}")] = 10,
) -> FastJSONResponse:  # fmt: skip
    """Cases, units and buildings matching ``q``, best first, each with its outline, box and point to fly to."""
    asked = Search.of(q, limit)
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"q": asked.text, "hits": await search(conn, asked)})
