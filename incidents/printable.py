"""Printable reports: situation reports and the after-action report as HTML pages and PDF files.

The pages are rendered on the server with Jinja2 from ``incidents/templates``; their words come from
the caller's catalogue (``words``, passed in by the API: this package sits beside ``web``, not on it),
Chinese first, and every time is Beijing time. The PDF is the same page through WeasyPrint, which needs
Pango and a CJK font from the system (``scripts/bootstrap.sh`` installs fonts-noto-cjk).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

BEIJING = ZoneInfo("Asia/Shanghai")
Words = Callable[..., str]


def beijing(value: datetime | str | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A time as a person in the city reads it; nothing as a dash."""
    if value is None:
        return "—"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.astimezone(BEIJING).strftime(pattern)


ENVIRONMENT = Environment(loader=PackageLoader("incidents", "templates"), autoescape=select_autoescape(["html"]))
ENVIRONMENT.filters["beijing"] = beijing


def render(template: str, words: Words, language: str, **context: Any) -> str:
    """The page ``template`` in the caller's language."""
    return ENVIRONMENT.get_template(template).render(t=words, language=language, **context)


def pdf(html: str) -> bytes:
    """The page as a PDF (A4, the fonts the system has for Chinese)."""
    from weasyprint import HTML  # loads Pango at first use, not when the API starts

    return bytes(HTML(string=html).write_pdf())
