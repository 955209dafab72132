"""Engine creation: the configured external database, or the running embedded cluster."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, make_url

from spatial.embedded import API_ROLE, EmbeddedCluster
from spatial.errors import EmbeddedDbError
from spatial.settings import StoreSettings, sqlalchemy_url


def database_url(settings: StoreSettings) -> str:
    """SQLAlchemy URL of the city database this process serves."""
    if settings.database_url:
        return settings.database_url
    cluster = EmbeddedCluster(settings)
    if not cluster.status().running:
        raise EmbeddedDbError(
            f"the embedded database in {cluster.data_dir} is not running: run `cityops db start` "
            "(or set CITYOPS_DATABASE_URL)"
        )
    return sqlalchemy_url(cluster.url(settings.city))


def libpq_url(settings: StoreSettings) -> str:
    """The same database as a libpq URL, for psycopg's own (async) pool."""
    url = make_url(database_url(settings)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def as_api_role() -> dict[str, str]:
    """libpq connection options that make a session act as the API role from its first statement.

    The API's connections own nothing and may write only what the API writes, so row-level
    security binds them; the schema owner (migrations, CLI, imports) connects without this.
    """
    return {"options": f"-c role={API_ROLE}"}


def make_engine(settings: StoreSettings, *, api_role: bool = False) -> Engine:
    """A pooled engine; psycopg prepares statements that repeat, which the hot paths rely on.

    No pre-ping: it would add a round trip to every request. A connection broken by a database
    restart fails one request, and SQLAlchemy then discards the whole stale pool.
    """
    return create_engine(
        database_url(settings),
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_recycle=3600,
        connect_args={"prepare_threshold": 2, **(as_api_role() if api_role else {})},
    )
