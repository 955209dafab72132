"""Search: one box for case numbers, unit names (汉字 or pinyin initials), building codes and addresses (issue 18).

Answers in the caller's scope (a case outside their jurisdiction is never found); no match is an
empty list — the box says 未找到 —, never an error. What and how: ``command.search``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.geojson import FastJSONResponse
from command.search import MAX_LIMIT, MAX_QUERY, search
from command.search import Query as Search
from command.users import User
from web.access import Access
from web.deps import scoped_connection

router = APIRouter(prefix="/api/v1", tags=["search"])
Reader = Annotated[User, Depends(Access("cases:read"))]


class Hit(BaseModel):
    """A case, unit or building found: what the search box shows and where the map flies."""

    model_config = ConfigDict(extra="allow")  # a case adds its state and category, a unit its name and tier

    kind: str
    id: str | int
    bbox: list[float] = Field(description="west, south, east, north")
    geometry: dict[str, Any] | None
    label: str | None


class Found(BaseModel):
    """What the search found for ``q``, best first."""

    q: str
    hits: list[Hit]


@router.get("/search", response_class=FastJSONResponse, response_model=Found)
async def find(
    request: Request,
    user: Reader,
    q: Annotated[
        str,
        Query(
            description="a case number, a unit's name or pinyin initials (xwq → 玄武区), a building "
            f"code or words of an address; at most {MAX_QUERY} characters"
        ),
    ] = "",
    limit: Annotated[int, Query(description=f"hits at most, 1…{MAX_LIMIT}")] = 10,
) -> FastJSONResponse:
    """Cases, units and buildings matching ``q``, best first, each with its outline, box and point to fly to."""
    asked = Search.of(q, limit)
    async with scoped_connection(request) as conn:
        return FastJSONResponse({"q": asked.text, "hits": await search(conn, asked)})
