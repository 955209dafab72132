"""Dispatch and tracking settings (``CITYOPS_STALE_AFTER_S`` …)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ForceSettings(BaseSettings):
    """How fresh a position must be to dispatch on it, what a fix may claim, how long to wait for acceptance."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_", env_file=".env", env_ignore_empty=True, extra="ignore")

    stale_after_s: int = Field(
        default=1800, ge=10, le=86_400, description="A force whose last fix is older is stale (not dispatchable)."
    )
    position_retention_days: int = Field(default=30, ge=1, le=3650, description="Days of position history kept.")
    max_fixes_per_batch: int = Field(default=1000, ge=1, le=10_000)
    max_speed_kmh: float = Field(default=250.0, gt=0, description="Faster claims are refused as impossible.")
    clock_skew_s: int = Field(default=120, ge=0, le=3600, description="How far in the future a fix may be stamped.")
    accept_timeout_s: int = Field(
        default=180, ge=10, le=86_400, description="An assignment not accepted in time is re-dispatched."
    )
    redispatch: bool = Field(default=True, description="Offer a timed-out assignment to the next candidate.")
    sweep_interval_s: float = Field(default=5.0, gt=0, le=3600, description="How often deadlines are checked.")

    @property
    def stale_after(self) -> timedelta:
        """``stale_after_s`` as a duration."""
        return timedelta(seconds=self.stale_after_s)

    @property
    def retention(self) -> timedelta:
        """``position_retention_days`` as a duration."""
        return timedelta(days=self.position_retention_days)

    @property
    def accept_within(self) -> timedelta:
        """``accept_timeout_s`` as a duration."""
        return timedelta(seconds=self.accept_timeout_s)
