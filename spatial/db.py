"""Engine creation: the configured external database, or the running embedded cluster."""

from __future__ import annotations

import math

import psycopg
from sqlalchemy import Engine, create_engine, event, make_url

from spatial.embedded import API_ROLE, EmbeddedCluster
from spatial.errors import EmbeddedDbError
from spatial.settings import StoreSettings, sqlalchemy_url

SESSION_ZONE = "SELECT set_config('TimeZone', %s, false)"


def database_url(settings: StoreSettings, *, api: bool = False) -> str:
    """SQLAlchemy URL of the city database this process serves — as its owner, or as the API role.

    The API logs in as ``cityops_api``: it owns nothing and may write only what the API writes,
    so row-level security binds it. The owner (migrations, CLI, imports) is not bound.
    """
    if settings.database_url:
        return (settings.api_database_url or settings.database_url) if api else settings.database_url
    cluster = EmbeddedCluster(settings)
    if not cluster.status().running:
        raise EmbeddedDbError(
            f"the embedded database in {cluster.data_dir} is not running: run `cityops db start` "
            "(or set CITYOPS_DATABASE_URL)"
        )
    return sqlalchemy_url(cluster.url(settings.city, api=api))


def session_options(settings: StoreSettings, *, api: bool, zone: str | None = None) -> dict[str, str]:
    """libpq startup options: the API role for an API connection that logs in as the owner (external
    database, no API URL), and the session's time zone.

    With ``zone`` (the city's, ``Asia/Shanghai`` for Nanjing) every ``timestamptz`` the session reads
    comes back in it — psycopg builds its datetimes in the session's zone, and JSON that SQL builds
    (``json_build_object``) writes the same offset — so each answer carries the city's offset
    without a conversion in every serialiser. The options are the session's defaults: ``RESET ALL``
    returns to them.
    """
    options = []
    if api and settings.database_url is not None and settings.api_database_url is None:
        options.append(f"-c role={API_ROLE}")
    if zone is not None:
        options.append(f"-c TimeZone={zone}")
    return {"options": " ".join(options)} if options else {}


def libpq_url(settings: StoreSettings, *, api: bool = False) -> str:
    """The same database as a libpq URL, for psycopg's own (async) connections."""
    return as_libpq(database_url(settings, api=api))


def as_libpq(url: str) -> str:
    """A SQLAlchemy URL as libpq's."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_engine(settings: StoreSettings, *, api: bool = False, zone: str | None = None, wait_s: float = 30) -> Engine:
    """A pooled engine (its sessions in ``zone`` when given); psycopg prepares statements that repeat,
    which the hot paths rely on. A connection is waited for at most ``wait_s`` (from the pool, or
    from a server that does not answer), so an outage fails fast instead of holding the caller.

    No pre-ping: it would add a round trip to every request. A connection broken by a database
    restart fails one request, and SQLAlchemy then discards the whole stale pool.
    """
    return engine_at(
        database_url(settings, api=api), settings.pool_size, session_options(settings, api=api, zone=zone), wait_s
    )


def engine_at(
    url: str, pool_size: int, options: dict[str, str], wait_s: float, *, pooled_zone: str | None = None
) -> Engine:
    """``make_engine`` for a URL already resolved (``spatial.database.Database`` resolves it once).

    ``pooled_zone``: the URL is a transaction pooler's (PgBouncer), which refuses startup options and
    cannot keep prepared statements; the session's zone is set once a connection instead.
    """
    pooled = pooled_zone is not None
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=3600,
        pool_timeout=wait_s,
        connect_args={
            "prepare_threshold": None if pooled else 2,
            "connect_timeout": max(2, math.ceil(wait_s)),  # libpq's least
            **({} if pooled else options),
        },
    )
    if pooled_zone is not None:
        event.listen(engine, "connect", lambda dbapi_connection, _: set_session_zone(dbapi_connection, pooled_zone))
    return engine


def set_session_zone(conn: psycopg.Connection, zone: str) -> None:
    """Set the session's zone by a statement: the server reports the change, and PgBouncer (``TimeZone`` is
    one of the parameters it tracks) sets it on each server connection it lends this client afterwards."""
    with conn.transaction():
        conn.execute(SESSION_ZONE, (zone,))
