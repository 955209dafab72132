"""The row a statement always answers."""

from __future__ import annotations

from typing import TypeVar

Row = TypeVar("Row")


def one(row: Row | None) -> Row:
    """``row``, known to be there. psycopg types ``fetchone()`` as optional, since a query may find nothing; an
    aggregate, a function call or an ``INSERT … RETURNING`` of a row that exists always answers one."""
    if row is None:
        raise RuntimeError("the statement answered no row")
    return row
