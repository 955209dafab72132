"""Alembic environment.

Autogenerate compares the declared database objects — functions, triggers, policies, views, one file
each under ``<package>/sql/`` (``spatial/declared.py``) — and nothing else. Tables, columns, indexes,
partitions and row-level security are written by hand in each migration: no ORM model describes them
(none is used by the code, and one covering a third of the tables only pretended to), so
autogenerate is not asked about them and proposes nothing for them.
"""

from typing import Any

from alembic import context
from geoalchemy2 import alembic_helpers  # noqa: F401  (registers op.create_geospatial_table …, which migrations call)
from sqlalchemy import MetaData, create_engine, pool

import spatial.declared  # noqa: F401  (registers the comparison of declared objects with autogenerate)

config = context.config


def _no_tables(name: str | None, type_: str, parent_names: object) -> bool:
    """Skip reflecting tables: their migrations are hand-written, only declared objects are compared."""
    return type_ == "schema"


def _configure(**kwargs: Any) -> None:
    context.configure(target_metadata=MetaData(), include_name=_no_tables, **kwargs)


def run_migrations_offline() -> None:
    """Emit SQL without a connection (``alembic upgrade --sql``)."""
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the database, reusing a caller's connection when one is handed in."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url", ""), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
