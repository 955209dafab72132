"""Sensing settings (``CITYOPS_MQTT_URL``, ``CITYOPS_READING_RETENTION_DAYS`` …)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SensingSettings(BaseSettings):
    """Where the broker is, how readings are batched, how long they are kept, how much one device may send."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_", env_file=".env", env_ignore_empty=True, extra="ignore")

    mqtt_url: str | None = Field(
        default=None,
        description="mqtt://user:password@host:port of an external broker; unset: the platform's own Mosquitto.",
    )
    mqtt_client_id: str = Field(
        default="cityops-ingest", description="The subscriber's persistent session (the city's name is appended)."
    )
    reading_retention_days: int = Field(default=30, ge=1, le=3650, description="Days of raw readings kept.")
    reading_clock_skew_s: int = Field(default=120, ge=0, le=3600, description="How far ahead a reading may be stamped.")
    batch_window_s: float = Field(default=0.2, gt=0, le=10, description="Readings wait at most this long for a batch.")
    batch_max: int = Field(default=20_000, ge=1, le=200_000, description="Readings stored in one transaction at most.")
    device_per_minute: int = Field(
        default=120, ge=1, le=60_000, description="Readings a minute one device may send beyond its burst."
    )
    device_burst: int = Field(default=600, ge=1, le=100_000, description="A backlog one device may send at once.")
    silence_interval_s: float = Field(default=60.0, gt=0, le=3600, description="How often silent devices are sought.")
    rollup_interval_s: float = Field(default=60.0, gt=0, le=3600, description="How often minutes are rolled up.")

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname:
                raise ValueError("CITYOPS_MQTT_URL is mqtt://user:password@host:port (or mqtts://)")
        return value

    @property
    def retention(self) -> timedelta:
        """``reading_retention_days`` as a duration."""
        return timedelta(days=self.reading_retention_days)

    @property
    def clock_skew(self) -> timedelta:
        """``reading_clock_skew_s`` as a duration."""
        return timedelta(seconds=self.reading_clock_skew_s)
