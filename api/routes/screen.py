"""The wall display's figures: per-district table, trends, top categories, ticker (issue 18)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
