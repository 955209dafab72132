"""The evidence an alarm brings to its case: a chart of the device's readings around the alarm, as a PNG.

A case handler opens the case and sees what the device saw — the rise, the warning level crossed,
when — without opening the sensor's page; the same values go into the case description as text.
"""

from __future__ import annotations

import io
from datetime import datetime, tzinfo

import matplotlib

matplotlib.use("Agg")  # no display: drawn in a worker process

import matplotlib.dates as mdates  # (after the backend is chosen)
import matplotlib.pyplot as plt

CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "DejaVu Sans"]


def chart_png(
    title: str,
    unit: str,
    points: list[tuple[datetime, float]],
    zone: tzinfo,
    *,
    raise_at: float | None = None,
    clear_at: float | None = None,
) -> bytes:
    """A small line chart (800×360) of ``points`` in the city's time, with the rule's levels dashed."""
    with plt.rc_context({"font.sans-serif": CJK_FONTS, "axes.unicode_minus": False}):
        figure, axes = plt.subplots(figsize=(8, 3.6), dpi=100)
        try:
            times = mdates.date2num([at.astimezone(zone) for at, _ in points])
            marker = "." if len(points) < 60 else None
            axes.plot(times, [value for _, value in points], color="#0b5cad", linewidth=1.6, marker=marker)
            if raise_at is not None:
                axes.axhline(raise_at, color="#b3261e", linestyle="--", linewidth=1, label=f"报警 {raise_at:g}{unit}")
            if clear_at is not None:
                axes.axhline(clear_at, color="#1e6b35", linestyle=":", linewidth=1, label=f"恢复 {clear_at:g}{unit}")
            if raise_at is not None or clear_at is not None:
                axes.legend(loc="upper left", fontsize=8)
            axes.set_title(title, fontsize=11)
            axes.set_ylabel(unit)
            axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))
            axes.grid(alpha=0.3)
            figure.tight_layout()
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            return buffer.getvalue()
        finally:
            plt.close(figure)
