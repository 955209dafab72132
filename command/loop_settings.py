"""Closed-loop settings (``CITYOPS_ESCALATION_STEP_MINUTES`` …): escalation, warnings, follow-up."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LoopSettings(BaseSettings):
    """How overdue cases climb, how early a breach is announced, how reporters hear back."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_", env_file=".env", env_ignore_empty=True, extra="ignore")

    escalation_step_minutes: float = Field(
        default=120, gt=0, le=7 * 1440, description="An overdue case climbs one more tier after each such span."
    )
    due_warning_minutes: float = Field(default=30, gt=0, le=1440, description="Announce a stage this long before due.")
    deadline_sweep_s: float = Field(default=30.0, gt=0, le=3600, description="How often deadlines are checked.")
    reopen_on_unsatisfied: bool = Field(default=True, description="A reporter's 不满意 reopens the closed case.")
    follow_up_webhook: str | None = Field(
        default=None, description="POST each reporter follow-up here as JSON (else written to the follow-up log)."
    )
    follow_up_attempts: int = Field(default=5, ge=1, le=50, description="Tries before a follow-up counts as failed.")

    @property
    def escalation_step(self) -> timedelta:
        """``escalation_step_minutes`` as a duration."""
        return timedelta(minutes=self.escalation_step_minutes)

    @property
    def due_warning(self) -> timedelta:
        """``due_warning_minutes`` as a duration."""
        return timedelta(minutes=self.due_warning_minutes)
