"""Search: one box for case numbers, unit names (汉字 or pinyin initials), building codes and addresses (issue 18)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
