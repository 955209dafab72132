"""The wall display ``/screen`` (大屏) (issue 18)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
