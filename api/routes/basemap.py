"""The city's own basemap: a local PMTiles or MBTiles package served as XYZ tiles (issue 18)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
