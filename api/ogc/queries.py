"""Items of a collection: one page of features and how many match, in one round trip each."""

from __future__ import annotations

import psycopg

from api.ogc.collections import Collection
from api.ogc.crs import Crs
from api.ogc.params import ItemQuery


def _where(collection: Collection, query: ItemQuery, scope: int | None) -> tuple[str, dict[str, object]]:
    conditions, params = [collection.where], dict[str, object](scope=scope)
    if query.bbox is not None:
        conditions.append(collection.in_box.format(box=query.bbox_crs.envelope()))
        params.update(zip(("w", "s", "e", "n"), query.bbox, strict=True))
    if collection.time is not None:  # a collection without a time (units) has nothing for datetime to exclude
        if query.start is not None:
            conditions.append(f"{collection.time} >= %(start)s")
            params["start"] = query.start
        if query.end is not None:
            conditions.append(f"{collection.time} <= %(end)s")
            params["end"] = query.end
    for name, value in query.filters.items():
        conditions.append(collection.queryables[name])
        params[name] = value
    return " AND ".join(conditions), params


async def items(
    conn: psycopg.AsyncConnection, collection: Collection, query: ItemQuery, scope: int | None
) -> tuple[int, list[str]]:
    """(numberMatched, the page's features as GeoJSON text), ordered by id."""
    where, params = _where(collection, query, scope)
    matched = (
        await (await conn.execute(f"SELECT count(*) FROM {collection.source} WHERE {where}", params)).fetchone()
    )[0]  # type: ignore[index]
    feature = collection.feature_in(query.crs)
    page = f"SELECT {feature} FROM {collection.source} WHERE {where} ORDER BY {collection.key} "
    rows = await (
        await conn.execute(
            page + "LIMIT %(limit)s OFFSET %(offset)s", {**params, "limit": query.limit, "offset": query.offset}
        )
    ).fetchall()
    return matched, [row[0] for row in rows]


async def item(
    conn: psycopg.AsyncConnection, collection: Collection, feature_id: str, scope: int | None, crs: Crs
) -> str | None:
    """One feature as GeoJSON text in ``crs``, or None (absent, or outside the caller's scope)."""
    feature, source = collection.feature_in(crs), collection.source
    sql = f"SELECT {feature} FROM {source} WHERE {collection.where} AND {collection.key} = %(id)s"
    row = await (await conn.execute(sql, {"scope": scope, "id": feature_id})).fetchone()
    return None if row is None else row[0]


async def extent(conn: psycopg.AsyncConnection) -> list[float]:
    """The city's bounding box (every collection lies inside it)."""
    row = await (
        await conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM unit "
            "WHERE tier = 'city') x"
        )
    ).fetchone()
    return [float(v) for v in row] if row and row[0] is not None else [-180.0, -90.0, 180.0, 90.0]
