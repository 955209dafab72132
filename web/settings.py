"""Service configuration (``CITYOPS_HOST``, ``CITYOPS_PORT`` …)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MEMORY = "memory://"  # limits' storage in this process: right for one process, not for several


class ApiSettings(BaseSettings):
    """How the service listens and what the pages may load."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_", env_file=".env", env_ignore_empty=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    db_concurrency: int = Field(default=4, ge=1, le=200, description="Database calls in flight per process (threads).")
    basemap_url: str | None = Field(
        default=None,
        description="XYZ tile URL of an internal tile server (Tianditu …); none by default, "
        "the hierarchy itself is the base layer.",
    )
    bench_endpoints: bool = Field(default=False, description="Mount the bare endpoint benchmarks compare against.")
    environment: Literal["development", "production"] = Field(
        default="development", description="production refuses to start without a strong CITYOPS_SECRET_KEY"
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Signs access tokens; in development a random one is kept in the data directory."
    )
    access_token_minutes: int = Field(default=15, ge=1, le=1440)
    refresh_token_days: int = Field(default=7, ge=1, le=90)
    # a used-up refresh token presented again this soon is a lost answer (a page left mid-renewal, a dropped
    # mobile link), not a thief: it gets a new pair of the same login instead of ending it (Okta's grace period)
    refresh_reuse_grace_s: int = Field(default=10, ge=0, le=60)
    cors_origins: list[str] = Field(
        default=[], description="Origins (scheme://host[:port]) whose pages may call the API; none by default."
    )
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="Largest request body except media uploads.")
    db_wait_s: float = Field(
        default=2.0, gt=0, le=60, description="Longest wait for a database connection before 503 with Retry-After"
    )
    body_read_timeout_s: float = Field(
        default=20.0, gt=0, le=600, description="Longest pause inside a request body before 408 (a stalled upload)"
    )
    rate_limit_storage: str = Field(
        default=MEMORY,
        description="limits storage URI; unset with `serve --workers N` (N > 1): the platform's own Redis",
    )
    rate_intake_per_client: str = Field(default="120/minute", description="Reports per client address")
    rate_intake_per_caller: str = Field(default="600/minute", description="Reports per user or API key")
    rate_login_failures: str = Field(
        default="5/15 minutes", description="Failed logins per account from one address before that pair pauses"
    )
    rate_login_failures_per_account: str = Field(
        default="20/15 minutes",
        description="Failed logins of an account from addresses it never signed in from (all of them together) "
        "before those pause; its owner's known addresses and live sessions are unaffected",
    )
    login_slowdown_after: int = Field(
        default=10,
        ge=1,
        description="Failed logins of an account (from anywhere, same window) before each further attempt from an "
        "unknown address waits 1, 2, 4 … s after the one before it (at most 30 s ahead); never locked",
    )
    rate_login_failures_per_client: str = Field(
        default="30/15 minutes", description="Failed logins from one address (across accounts) before a pause"
    )
    log_json: bool = Field(default=True, description="JSON log lines (false: console format).")
