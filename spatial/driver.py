"""The psycopg connection under a SQLAlchemy one, for the paths SQLAlchemy's row layer would slow down
(COPY, prepared statements in a tight loop, binary arrays)."""

from __future__ import annotations

import psycopg
from sqlalchemy import Connection, PoolProxiedConnection


def psycopg_connection(conn: Connection | PoolProxiedConnection) -> psycopg.Connection:
    """``conn``'s psycopg connection. SQLAlchemy types it ``Any | None``: None only once the connection is
    closed or invalidated, which a caller holding ``conn`` open never sees."""
    proxied = conn.connection if isinstance(conn, Connection) else conn
    driver = proxied.driver_connection
    if driver is None:
        raise RuntimeError("the database connection was closed or invalidated")
    return driver
