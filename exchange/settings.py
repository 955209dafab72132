"""Exchange settings: where webhooks may go, how hard they and the peers' messages are tried (``CITYOPS_…``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def retry_wait(first_s: float, cap_s: float, tries: int) -> float:
    """The wait before the next try after ``tries`` failed ones: ``first_s`` doubled each time, at most ``cap_s``."""
    return min(first_s * 2 ** (tries - 1), cap_s)


class ExchangeSettings(BaseSettings):
    """The change log's sequencer, the webhook deliveries, the messages to peer cities."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_", env_file=".env", env_ignore_empty=True, extra="ignore")

    webhook_allow_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts or networks (CIDR) webhooks may reach although private or the platform's own "
        "(e.g. 10.20.0.0/16 for the government network's exchange platform); none by default.",
    )
    webhook_batch: int = Field(default=200, ge=1, le=1000, description="Events in one delivery at most.")
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60, description="A subscriber's answer waits this long.")
    webhook_attempts: int = Field(default=8, ge=1, le=30, description="Tries of one delivery before its dead letter.")
    webhook_backoff_s: float = Field(default=2.0, gt=0, le=600, description="The first retry's wait, doubled each.")
    webhook_backoff_cap_s: float = Field(default=600.0, gt=0, le=86400, description="The longest wait between tries.")
    change_interval_s: float = Field(default=0.1, gt=0, le=60, description="How often changes are numbered and sent.")
    peer_interval_s: float = Field(default=1.0, gt=0, le=60, description="How often messages to peers are sent.")
    peer_timeout_s: float = Field(default=10.0, gt=0, le=120, description="A peer's answer waits this long.")
    peer_backoff_s: float = Field(default=2.0, gt=0, le=600, description="The first retry to a peer waits, doubled.")
    peer_backoff_cap_s: float = Field(default=300.0, gt=0, le=86400, description="The longest wait between tries.")
