"""Store configuration, read from ``CITYOPS_*`` environment variables (and ``.env``).

Without ``CITYOPS_DATABASE_URL`` the platform runs its own embedded PostgreSQL cluster under
``data_dir``; each city is a database in it, so several cities can be served side by side by
starting one service per ``CITYOPS_CITY``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CITY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def default_data_dir() -> Path:
    """Pick where the embedded cluster and caches live.

    Root gets a system location that the unprivileged service account can reach; ordinary
    users get their XDG data directory.
    """
    if os.geteuid() == 0:
        return Path("/var/lib/cityops")
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "cityops"


def sqlalchemy_url(url: str) -> str:
    """Normalise a libpq URL (``postgresql://``) to the psycopg 3 SQLAlchemy driver."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class StoreSettings(BaseSettings):
    """Where the spatial store is and how it behaves."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_", env_file=".env", env_ignore_empty=True, extra="ignore")

    database_url: str | None = Field(
        default=None, description="External PostGIS; when unset the embedded cluster is used."
    )
    api_database_url: str | None = Field(
        default=None,
        description="How the API logs in to the external PostGIS: as cityops_api, which owns nothing (row-level "
        "security binds it). Unset: the owner's login switching to cityops_api, which injected SQL could undo.",
    )
    replica_url: str | None = Field(
        default=None,
        description="A streaming replica of the city database, as the API role logs in to it: read-only endpoints "
        "(tiles, OGC, lists, analytics) are served from it while it keeps up. Unset: the embedded replica when "
        "one runs (`cityops db replica start`), else none.",
    )
    replica_max_lag_s: float = Field(
        default=5.0, gt=0, description="Older than this, the replica's answers are not served: the primary's are."
    )
    pooler_url: str | None = Field(
        default=None,
        description="PgBouncer in transaction mode in front of the city database, as the API role logs in to it: the "
        "API's pools go through it (listeners and the loops' locks connect directly). `cityops serve --pooler` "
        "starts the embedded one and sets this for its processes. Unset: the pools connect directly.",
    )
    pooler_connections: int = Field(
        default=40, ge=2, le=1000, description="Server connections the embedded pooler keeps at most, per database."
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    city: str = Field(default="nanjing", description="City database served by this process.")
    db_port: int = Field(default=54329, ge=1024, le=65535, description="Preferred embedded port.")
    db_durable: bool = Field(default=True, description="fsync on; tests turn it off for speed, never production.")
    service_account: str = Field(
        default="cityops", description="Unprivileged account that runs the cluster under root."
    )
    pool_size: int = Field(default=10, ge=1, le=200)
    max_import_mb: int = Field(default=150, ge=1, description="Largest boundary file accepted.")
    h3_resolution: int | None = Field(
        default=None,
        ge=5,
        le=13,
        description="Coverage resolution; chosen from unit sizes if unset.",
    )
    overlap_tolerance_m2: float = Field(
        default=1.0, ge=0, description="Sibling overlaps and gaps below this are noise, not errors."
    )

    @property
    def media_dir(self) -> Path:
        """Where report photos and videos are kept (content-addressed), per city."""
        return self.data_dir / "media" / self.city

    @field_validator("city")
    @classmethod
    def _city_is_identifier(cls, value: str) -> str:
        if not CITY_NAME.match(value):
            raise ValueError("city must be lower-case letters, digits and _ (e.g. 'nanjing')")
        return value

    @field_validator("database_url", "api_database_url", "replica_url", "pooler_url")
    @classmethod
    def _normalise_driver(cls, value: str | None) -> str | None:
        return sqlalchemy_url(value) if value else None
